"""Issue 4's acceptance on real hosts: the tuned primary, pg_hba, replicas by inventory, promotion.

The tests run in file order and share one cluster: the scale-out test adds db3 to db_replicas,
and promotion comes last because it changes the topology.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SCENARIO, eventually, sql, value

ADD_DB3 = SCENARIO / "add-db3.ini"
CONF = "/etc/postgresql/15/main/conf.d/60-django-deploy.conf"
HBA = "/etc/postgresql/15/main/pg_hba.conf"
APP_PASSWORD = "molecule-app-password"


def address(host):
    return host.ansible("setup", "filter=ansible_default_ipv4", check=False)["ansible_facts"]["ansible_default_ipv4"]["address"]


def recap(output):
    """{host: {'ok': n, 'changed': n, 'failed': n, ...}} from a PLAY RECAP."""
    rows = re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output.split("PLAY RECAP")[-1], re.M)
    return {h: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for h, counts in rows}


def app_psql(client, server, query, user="demo", password=APP_PASSWORD, db="demo", extra=""):
    return client.run(
        "PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql -XAtq -h %s -U %s -d %s " + extra + " -c %s",
        password, server, user, db, query)


# --- 1. A tuned primary ----------------------------------------------------------------------

def test_settings_rendered_whole_from_the_plan(hosts):
    db1 = hosts["db1"]
    conf = db1.file(CONF)
    assert conf.user == "postgres" and conf.mode == 0o640
    text = conf.content_string
    # 1024 MB dedicated host (molecule.yml): PGTune gives a quarter to shared_buffers.
    assert "shared_buffers = '256MB'" in text
    # WAL kept for standbys follows the host's WAL bound (its RAM and the free space of its disk):
    # a dead slot keeps at most max_wal_size, a slot-less standby min_wal_size.
    rendered = dict(re.findall(r"^(\w+) = '([^']*)'$", text, re.M))
    assert rendered["max_slot_wal_keep_size"] == rendered["max_wal_size"]
    assert rendered["wal_keep_size"] == rendered["min_wal_size"]
    assert "primary_conninfo" not in text, "the primary has no upstream"
    shown = dict(line.split("|") for line in value(db1, "SELECT name, current_setting(name) FROM pg_settings "
                 "WHERE name IN ('shared_buffers', 'wal_level', 'max_slot_wal_keep_size', 'wal_keep_size', "
                 "'hot_standby', 'password_encryption', 'wal_log_hints', 'max_wal_senders')").splitlines())
    assert shown == {"shared_buffers": "256MB", "wal_level": "replica",
                     "max_slot_wal_keep_size": rendered["max_slot_wal_keep_size"],
                     "wal_keep_size": rendered["wal_keep_size"], "hot_standby": "on",
                     "password_encryption": "scram-sha-256", "wal_log_hints": "on", "max_wal_senders": "10"}
    assert value(db1, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert value(db1, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL") == "0"


def test_listens_on_its_address_and_localhost_only(hosts):
    db1 = hosts["db1"]
    assert db1.socket(f"tcp://{address(db1)}:5432").is_listening
    assert db1.socket("tcp://127.0.0.1:5432").is_listening
    assert not db1.socket("tcp://0.0.0.0:5432").is_listening


def test_app_database_and_owner_on_the_primary(hosts):
    db1 = hosts["db1"]
    assert value(db1, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'demo'") == "demo"
    flags = value(db1, "SELECT rolsuper, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = 'demo'")
    assert flags == "f|f|t"
    flags = value(db1, "SELECT rolsuper, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = 'replicator'")
    assert flags == "f|t|t", "a replication role distinct from the app role"


def test_every_login_role_has_a_scram_verifier(hosts):
    assert value(hosts["db1"], "SELECT count(*) FROM pg_authid WHERE rolcanlogin "
                 "AND (rolpassword IS NULL OR rolpassword !~ '^SCRAM-SHA-256\\$') AND rolname <> 'postgres'") == "0"


def test_pg_hba_from_the_inventory(hosts):
    db1 = hosts["db1"]
    assert value(db1, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"
    assert value(db1, "SELECT count(*) FROM pg_hba_file_rules WHERE type LIKE 'host%' "
                 "AND auth_method <> 'scram-sha-256'") == "0", "scram-sha-256 on every network line, no trust"
    assert value(db1, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'") == "0"
    rows = set(value(db1, "SELECT array_to_string(database, ','), array_to_string(user_name, ','), "
                     "coalesce(address, '') || '/' || coalesce(netmask, '') FROM pg_hba_file_rules "
                     "WHERE type = 'host'").splitlines())
    expected = {f"demo|demo|{address(hosts['app1'])}/255.255.255.255"}
    # Replication from the other database host (the stack model's flows: db2 streams from db1).
    expected |= {f"replication|replicator|{address(hosts['db2'])}/255.255.255.255"}
    assert rows == expected, "the app host for the app database, the other database host for replication, nothing else"
    assert "0.0.0.0" not in db1.file(HBA).content_string


def test_client_host_logs_in_with_scram(hosts):
    result = app_psql(hosts["app1"], "db1", "SELECT current_user")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "demo"
    wrong = app_psql(hosts["app1"], "db1", "SELECT 1", password="not-the-password")
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr


def test_host_outside_the_inventory_is_refused(hosts):
    result = app_psql(hosts["out1"], "db1", "SELECT 1")
    assert result.rc != 0
    assert "no pg_hba.conf entry" in result.stderr, result.stderr


def test_app_host_cannot_replicate(hosts):
    result = hosts["app1"].run(
        "PGPASSWORD=whatever psql -XAtq 'host=db1 user=replicator replication=true dbname=replication' "
        "-c IDENTIFY_SYSTEM")
    assert result.rc != 0 and "no pg_hba.conf entry" in result.stderr, result.stderr


def test_replication_password_only_in_the_passfile(hosts):
    for name in ("db1", "db2"):
        host = hosts[name]
        passfile = host.file("/var/lib/postgresql/.pgpass")
        assert passfile.user == "postgres" and passfile.mode == 0o600
        assert passfile.content_string.strip() == "*:*:replication:replicator:molecule-repl\\:pass\\\\word"
    auto = hosts["db2"].file("/var/lib/postgresql/15/main/postgresql.auto.conf").content_string
    assert "password" not in auto and "primary_conninfo" not in auto


# --- 2. Replicas by inventory ----------------------------------------------------------------

def test_adding_db3_seeds_it_without_restarting_db1(hosts, playbook):
    db1, db3 = hosts["db1"], hosts["db3"]
    started = value(db1, "SELECT pg_postmaster_start_time()")
    assert not db3.package("postgresql-15").is_installed, "db3 starts outside the database groups"
    first = playbook(SCENARIO / "converge.yml", extra_inventories=[ADD_DB3])
    assert first.returncode == 0, first.stdout[-3000:]
    assert value(db3, "SELECT pg_is_in_recovery()") == "t"
    assert value(db1, "SELECT pg_postmaster_start_time()") == started, "db1 was restarted"
    again = playbook(SCENARIO / "converge.yml", extra_inventories=[ADD_DB3])
    assert again.returncode == 0, again.stdout[-3000:]
    changed = {h: c["changed"] for h, c in recap(again.stdout).items()}
    assert changed and all(n == 0 for n in changed.values()), f"second converge with db3 changed: {changed}"


@pytest.mark.parametrize("name", ["db2", "db3"])
def test_replica_is_a_streaming_standby(hosts, name):
    host = hosts[name]
    assert value(host, "SELECT pg_is_in_recovery()") == "t"
    assert host.file("/var/lib/postgresql/15/main/standby.signal").exists
    receiver = value(host, "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver")
    assert receiver == f"streaming|{address(hosts['db1'])}|replica_{name}"


def test_primary_sees_one_streaming_row_per_replica(hosts):
    rows = value(hosts["db1"], "SELECT application_name, state, client_addr FROM pg_stat_replication "
                 "ORDER BY 1").splitlines()
    assert rows == [f"db2|streaming|{address(hosts['db2'])}", f"db3|streaming|{address(hosts['db3'])}"]
    slots = value(hosts["db1"], "SELECT slot_name, slot_type, active, wal_status FROM pg_replication_slots "
                  "ORDER BY 1").splitlines()
    assert slots == ["replica_db2|physical|t|reserved", "replica_db3|physical|t|reserved"]


def test_row_written_on_the_primary_is_read_on_every_replica_within_10s(hosts):
    marker = uuid.uuid4().hex
    sql(hosts["db1"], "CREATE TABLE IF NOT EXISTS replication_probe (marker text PRIMARY KEY)", db="demo")
    sql(hosts["db1"], f"INSERT INTO replication_probe VALUES ('{marker}')", db="demo")
    for name in ("db2", "db3"):
        seen = eventually(lambda: value(hosts[name], f"SELECT count(*) FROM replication_probe "
                                        f"WHERE marker = '{marker}'", db="demo") == "1", timeout=10)
        assert seen, f"{name} did not show the row within 10 s"


@pytest.mark.parametrize("name", ["db2", "db3"])
def test_writes_on_a_replica_are_refused(hosts, name):
    result = sql(hosts[name], "INSERT INTO replication_probe VALUES ('nope')", db="demo", check=False)
    assert result.rc != 0 and "read-only transaction" in result.stderr


# --- 3. pg_replication_info ------------------------------------------------------------------

def _info(inventory, name, args="", check=True):
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    cmd = ["ansible", "-i", inventory, name, "-b", "--become-user", "postgres",
           "-m", "django_deploy.stack.pg_replication_info", "-a", args] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"][name]


def test_pg_replication_info_on_the_primary(inventory):
    result = _info(inventory, "db1", "expected_standbys=db2,db3 max_replay_lag_bytes=16777216 wait_timeout=20")
    assert result["changed"] is False and not result.get("failed"), result
    assert result["role"] == "primary" and result["in_recovery"] is False and result["problems"] == []
    assert result["receiver"] == {}
    assert [s["application_name"] for s in result["standbys"]] == ["db2", "db3"]
    for standby in result["standbys"]:
        assert set(standby) == {"application_name", "client_addr", "state", "sync_state", "slot_name", "sent_lsn",
                                "replay_lsn", "sent_lag_bytes", "replay_lag_bytes", "replay_lag_seconds"}
        assert standby["state"] == "streaming" and standby["slot_name"] == "replica_" + standby["application_name"]
        assert standby["replay_lag_bytes"] <= 16777216
    assert {(s["slot_name"], s["active"], s["wal_status"], s["at_risk"]) for s in result["slots"]} == {
        ("replica_db2", True, "reserved", False), ("replica_db3", True, "reserved", False)}


def test_pg_replication_info_on_a_standby_and_its_timeout(inventory):
    result = _info(inventory, "db2", "max_replay_lag_bytes=0 wait_timeout=10")
    assert result["role"] == "standby" and result["in_recovery"] is True and result["standbys"] == []
    receiver = result["receiver"]
    assert receiver["status"] == "streaming" and receiver["slot_name"] == "replica_db2"
    assert receiver["replay_lag_bytes"] == 0
    missing = _info(inventory, "db1", "expected_standbys=db2,db3,db9 wait_timeout=2")
    assert missing["failed"] and missing["problems"] == ["db9: not connected"]
    assert "after 2 s" in missing["msg"]


# --- 4. promote.yml --------------------------------------------------------------------------

PROMOTE = ROOT / "playbooks" / "promote.yml"
# The app role's database re-rendering is not part of this scenario (no django_app here).
PROMOTE_ARGS = ("-e", "promote_replica=db2", "-e", "promote_update_app=false")


def test_promote_refuses_a_lagging_replica(hosts, playbook):
    db1, db2 = hosts["db1"], hosts["db2"]
    sql(db2, "SELECT pg_wal_replay_pause()")
    try:
        sql(db1, "CREATE TABLE lag_probe AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g",
            db="demo")
        refused = playbook(PROMOTE, *PROMOTE_ARGS, "-e", "promote_max_lag_bytes=0", extra_inventories=[ADD_DB3])
        assert refused.returncode != 0
        assert "promoting now would lose those writes" in refused.stdout, refused.stdout[-3000:]
        assert value(db2, "SELECT pg_is_in_recovery()") == "t"
        assert db1.service("postgresql@15-main").is_running, "a refused promotion fences nothing"
    finally:
        sql(db2, "SELECT pg_wal_replay_resume()")


def test_promote_db2(hosts, playbook):
    db1, db2, db3 = hosts["db1"], hosts["db2"], hosts["db3"]
    marker = uuid.uuid4().hex
    sql(db1, f"INSERT INTO replication_probe VALUES ('{marker}')", db="demo")  # acknowledged by db1
    promoted = playbook(PROMOTE, *PROMOTE_ARGS, extra_inventories=[ADD_DB3])
    assert promoted.returncode == 0, promoted.stdout[-4000:]
    # db2 accepts writes and lost nothing acknowledged before the promotion.
    assert value(db2, "SELECT pg_is_in_recovery()") == "f"
    assert value(db2, f"SELECT count(*) FROM replication_probe WHERE marker = '{marker}'", db="demo") == "1"
    after = uuid.uuid4().hex
    sql(db2, f"INSERT INTO replication_probe VALUES ('{after}')", db="demo")
    # The old primary is stopped and masked.
    assert db1.run("systemctl is-enabled postgresql@15-main").stdout.strip() == "masked"
    assert not db1.service("postgresql@15-main").is_running
    assert db1.run("systemctl start postgresql@15-main").rc != 0, "nothing can start the fenced primary"
    # db3 streams from db2 and sees the write made there.
    receiver = value(db3, "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver")
    assert receiver == f"streaming|{address(db2)}|replica_db3"
    assert eventually(lambda: value(db3, f"SELECT count(*) FROM replication_probe WHERE marker = '{after}'",
                                    db="demo") == "1", timeout=10)
    assert value(db2, "SELECT application_name, state FROM pg_stat_replication") == "db3|streaming"
    assert value(db2, "SELECT slot_name, active FROM pg_replication_slots") == "replica_db3|t"
    # Exactly one primary: db1 is down, db3 is in recovery.
    assert value(db3, "SELECT pg_is_in_recovery()") == "t"


# --- 5. reseed.yml ---------------------------------------------------------------------------

RESEED = ROOT / "playbooks" / "reseed.yml"


@pytest.fixture(scope="module")
def promoted_inventory(inventory, tmp_path_factory):
    """The inventory as the user edits it after promote.yml: db2 the primary, db1 and db3 replicas."""
    source = Path(inventory)
    target = tmp_path_factory.mktemp("after-promotion")
    shutil.copytree(source / "group_vars", target / "group_vars")
    shutil.copy(source / "containers.yml", target / "containers.yml")
    groups = yaml.safe_load((source / "ansible_inventory.yml").read_text())
    every_host = {**groups["all"]["hosts"]}
    groups["db_primary"]["hosts"] = {"db2": every_host["db2"]}
    groups["db_replicas"]["hosts"] = {"db1": every_host["db1"], "db3": every_host["db3"]}
    groups.pop("spare_db")
    (target / "ansible_inventory.yml").write_text(yaml.safe_dump(groups))
    return target


def test_reseed_refuses_the_primary(playbook, promoted_inventory):
    refused = playbook(RESEED, "-i", str(promoted_inventory), "-e", "reseed_host=db2", inventory_override=True)
    assert refused.returncode != 0
    assert "reseed: set reseed_host to a host of db_replicas" in refused.stdout, refused.stdout[-3000:]


def test_reseed_makes_the_old_primary_a_standby_of_db2(hosts, playbook, promoted_inventory):
    db1, db2 = hosts["db1"], hosts["db2"]
    marker = value(db2, "SELECT max(marker) FROM replication_probe", db="demo")
    reseeded = playbook(RESEED, "-i", str(promoted_inventory), "-e", "reseed_host=db1", inventory_override=True)
    assert reseeded.returncode == 0, reseeded.stdout[-4000:]
    # The old data directory is kept aside, the unit unmasked, the host streams from db2.
    kept = db1.check_output("ls -d /var/lib/postgresql/15/main.pre-reseed-*").split()
    assert len(kept) == 1 and db1.file(f"{kept[0]}/PG_VERSION").exists
    assert db1.run("systemctl is-enabled postgresql@15-main").stdout.strip() == "enabled"
    assert value(db1, "SELECT pg_is_in_recovery()") == "t"
    receiver = value(db1, "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver")
    assert receiver == f"streaming|{address(db2)}|replica_db1"
    assert value(db1, f"SELECT count(*) FROM replication_probe WHERE marker = '{marker}'", db="demo") == "1"
    assert value(db2, "SELECT application_name, state FROM pg_stat_replication ORDER BY 1").splitlines() == \
        ["db1|streaming", "db3|streaming"]


# --- 6. A replica removed from the inventory -------------------------------------------------

def test_removing_db3_from_db_replicas_drops_its_slot_and_its_access(hosts, playbook, promoted_inventory,
                                                                      tmp_path_factory):
    """The user takes db3 out of db_replicas and re-runs the playbook: the primary (db2) ends its
    WAL sender, drops its slot (a dead replica's slot would keep WAL forever) and pg_hba no longer
    lets it in; db1 goes on streaming."""
    db2 = hosts["db2"]
    target = tmp_path_factory.mktemp("without-db3")
    shutil.copytree(promoted_inventory, target, dirs_exist_ok=True)
    groups = yaml.safe_load((target / "ansible_inventory.yml").read_text())
    groups["spare_db"] = {"hosts": {"db3": groups["db_replicas"]["hosts"].pop("db3")}}
    (target / "ansible_inventory.yml").write_text(yaml.safe_dump(groups))
    run = playbook(SCENARIO / "converge.yml", "-i", str(target), inventory_override=True)
    assert run.returncode == 0, run.stdout[-4000:]
    assert value(db2, "SELECT slot_name FROM pg_replication_slots ORDER BY 1") == "replica_db1"
    assert value(db2, "SELECT application_name, state FROM pg_stat_replication ORDER BY 1") == "db1|streaming"
    assert not re.search(rf"\s{re.escape(address(hosts['db3']))}/32\s", db2.file(HBA).content_string), \
        "db3 may no longer connect"
