"""The database tier and growth by inventory on one stack converged by site.yml: issue 4's
acceptance (a tuned primary, pg_hba from the inventory, replicas by inventory, pg_replication_info,
promote.yml, reseed.yml, a replica removed) and issue 7's (adding hosts to the inventory and
re-running site.yml brings them in without restarting what runs on the hosts already there).

The tests run in file order and share one cluster, whose topology they change step by step:
1. the converged stack: lb1, web1 (the app host), db1 (primary), db2 (replica); web2 and db3
   spare and not started; out1 in no group of the stack;
2. scale-out (the `scaled` fixture), under load through lb1 from out1: the containers of web2 and
   db3 started as `make demo` starts a host added to its inventory (start-hosts.yml: no running
   host moves), web2 and db3 added to the stack's groups (add-hosts.ini), site.yml run again;
3. the replicas db2 and db3, pg_replication_info;
4. promote.yml on db2 (the `promoted` fixture), the app re-pointed;
5. the inventory edited after the promotion (db2 primary, db1 and db3 replicas): reseed.yml on db1;
6. db3 taken out of db_replicas, site.yml run again.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, SCENARIO
from scenario_testing import (
    changed_tasks, eventually, haproxy_servers, host_platform, load_summary, post_note, private_address, recap, report, run_playbook,
    sql)

SITE = ROOT / "playbooks" / "site.yml"
PROMOTE = ROOT / "playbooks" / "promote.yml"
RESEED = ROOT / "playbooks" / "reseed.yml"
ADD_HOSTS = SCENARIO / "add-hosts.ini"
START_HOSTS = SCENARIO / "start-hosts.yml"
NEW_HOSTS = ("web2", "db3")
LB = "http://lb1/"
DEMO_HOST = {"Host": "demo.example.test"}
SETTINGS = "/etc/demo/python/django_deploy_settings.py"
# PostgreSQL's version, paths and unit on these hosts' Debian release (15 on 12, 17 on 13).
PG: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _postgresql_platform(hosts):
    PG.update(host_platform(hosts["db1"])["postgresql"])


APP_PASSWORD = "molecule-app-password"


def app_psql(client, server, query, user="demo", password=APP_PASSWORD, db="demo", extra=""):
    """psql from a client host over the network, as the app connects (converge.yml gives web1 and out1 psql)."""
    return client.run(
        "PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql -XAtq -h %s -U %s -d %s " + extra + " -c %s",
        password, server, user, db, query)


def unchecked_sql(host, query, db="postgres"):
    """One query as the postgres superuser, its CommandResult whatever its exit status."""
    return host.run("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s", db, query)


# --- 1. The converged stack: a tuned primary, pg_hba from the inventory -----------------------

def test_settings_rendered_whole_from_the_plan(hosts):
    db1 = hosts["db1"]
    conf = db1.file(f"{PG['config_dir']}/conf.d/60-django-deploy.conf")
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
    names = ("shared_buffers", "wal_level", "max_slot_wal_keep_size", "wal_keep_size", "hot_standby",
             "password_encryption", "wal_log_hints", "max_wal_senders")
    listed = ", ".join(f"'{name}'" for name in names)
    shown = dict(line.split("|") for line in
                 sql(db1, f"SELECT name, current_setting(name) FROM pg_settings WHERE name IN ({listed})").splitlines())
    assert shown == {"shared_buffers": "256MB", "wal_level": "replica",
                     "max_slot_wal_keep_size": rendered["max_slot_wal_keep_size"],
                     "wal_keep_size": rendered["wal_keep_size"], "hot_standby": "on",
                     "password_encryption": "scram-sha-256", "wal_log_hints": "on", "max_wal_senders": "10"}
    assert sql(db1, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert sql(db1, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL") == "0"


def test_listens_on_its_address_and_localhost_only(hosts):
    db1 = hosts["db1"]
    assert db1.socket(f"tcp://{private_address(db1)}:5432").is_listening
    assert db1.socket("tcp://127.0.0.1:5432").is_listening
    assert not db1.socket("tcp://0.0.0.0:5432").is_listening


def test_app_database_and_owner_on_the_primary(hosts):
    db1 = hosts["db1"]
    assert sql(db1, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'demo'") == "demo"
    flags = sql(db1, "SELECT rolsuper, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = 'demo'")
    assert flags == "f|f|t"
    flags = sql(db1, "SELECT rolsuper, rolreplication, rolcanlogin FROM pg_roles WHERE rolname = 'replicator'")
    assert flags == "f|t|t", "a replication role distinct from the app role"


def test_every_login_role_has_a_scram_verifier(hosts):
    assert sql(hosts["db1"], "SELECT count(*) FROM pg_authid WHERE rolcanlogin "
               "AND (rolpassword IS NULL OR rolpassword !~ '^SCRAM-SHA-256\\$') AND rolname <> 'postgres'") == "0"


def test_pg_hba_from_the_inventory(hosts):
    db1 = hosts["db1"]
    assert sql(db1, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"
    assert sql(db1, "SELECT count(*) FROM pg_hba_file_rules WHERE type LIKE 'host%' "
               "AND auth_method <> 'scram-sha-256'") == "0", "scram-sha-256 on every network line, no trust"
    assert sql(db1, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'") == "0"
    rows = set(sql(db1, "SELECT array_to_string(database, ','), array_to_string(user_name, ','), "
                   "coalesce(address, '') || '/' || coalesce(netmask, '') FROM pg_hba_file_rules "
                   "WHERE type IN ('host', 'hostssl')").splitlines())
    # Every other host over TLS only (postgresql_tls).
    assert sql(db1, "SELECT count(*) FROM pg_hba_file_rules WHERE type = 'host'") == "0", "a network line without TLS"
    # The app host (web1; web2 is still spare) for the app database. Not lb1, not out1.
    expected = {f"demo|demo|{private_address(hosts['web1'])}/255.255.255.255"}
    # Replication from the other database host (the stack model's flows: db2 streams from db1).
    expected |= {f"replication|replicator|{private_address(hosts['db2'])}/255.255.255.255"}
    assert rows == expected, "the app host for the app database, the other database host for replication, nothing else"
    assert "0.0.0.0" not in db1.file(f"{PG['config_dir']}/pg_hba.conf").content_string


def test_client_host_logs_in_with_scram(hosts):
    result = app_psql(hosts["web1"], "db1", "SELECT current_user")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "demo"
    wrong = app_psql(hosts["web1"], "db1", "SELECT 1", password="not-the-password")
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr


def test_host_outside_the_inventory_is_refused(hosts):
    # db1's firewall drops the connection; behind it, pg_hba has no line for out1 either.
    result = app_psql(hosts["out1"], "db1", "SELECT 1")
    assert result.rc != 0
    assert "timeout expired" in result.stderr, result.stderr
    assert private_address(hosts["out1"]) not in hosts["db1"].file(f"{PG['config_dir']}/pg_hba.conf").content_string


# What answers a TCP connection, from the host it runs on: {"address:port": "open" | "timeout" | error}.
PROBE = r"""
import concurrent.futures, json, socket, sys

def probe(target):
    address, port = target.rsplit(":", 1)
    try:
        socket.create_connection((address, int(port)), timeout=3).close()
        return "open"
    except socket.timeout:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__

with concurrent.futures.ThreadPoolExecutor(16) as pool:
    print(json.dumps(dict(zip(sys.argv[1:], pool.map(probe, sys.argv[1:])))))
"""
# The ports open to anyone: HAProxy's on the load balancer, and SSH everywhere (firewall_ssh_sources' default).
PUBLIC = {("lb1", 80)}


def listening_ports(host) -> set[int]:
    """The TCP ports the host listens on other than on loopback only."""
    ports = set()
    for line in host.check_output("ss -Hltn").splitlines():
        address, port = line.split()[3].rsplit(":", 1)
        if not address.startswith("127.") and address != "[::1]":
            ports.add(int(port))
    return ports


def probe(client, targets):
    return json.loads(client.check_output("python3 -c %s" + " %s" * len(targets), PROBE, *targets))


def test_an_outsider_reaches_only_the_public_ports(hosts):
    targets = {f"{private_address(hosts[name])}:{port}": (name, port)
               for name in ("lb1", "web1", "db1", "db2")
               for port in listening_ports(hosts[name]) if port != 22 and (name, port) not in PUBLIC}
    assert len(targets) >= 3, targets  # web1's nginx, db1's and db2's PostgreSQL at least
    answers = probe(hosts["out1"], list(targets))
    report(f"firewall: from out1, {len(answers)} internal ports of lb1, web1, db1, db2: "
           + ", ".join(f"{targets[t][0]}:{targets[t][1]} {answer}" for t, answer in sorted(answers.items())))
    assert all(answer == "timeout" for answer in answers.values()), answers
    site = probe(hosts["out1"], [f"{private_address(hosts['lb1'])}:80"])
    assert set(site.values()) == {"open"}, site


def test_the_app_host_reaches_its_tiers_through_the_firewall(hosts):
    answers = probe(hosts["web1"], [f"{private_address(hosts[name])}:5432" for name in ("db1", "db2")])
    assert set(answers.values()) == {"open"}, answers


def test_app_host_cannot_replicate(hosts):
    result = hosts["web1"].run(
        "PGPASSWORD=whatever psql -XAtq 'host=db1 user=replicator replication=true dbname=replication' "
        "-c IDENTIFY_SYSTEM")
    assert result.rc != 0 and "no pg_hba.conf entry" in result.stderr, result.stderr


def test_replication_password_only_in_the_passfile(hosts):
    # molecule.yml's replication password has a ':' and a '\': libpq's passfile escapes both.
    for name in ("db1", "db2"):
        host = hosts[name]
        passfile = host.file("/var/lib/postgresql/.pgpass")
        assert passfile.user == "postgres" and passfile.mode == 0o600
        assert passfile.content_string.strip() == "*:*:replication:replicator:molecule-repl\\:pass\\\\word"
    auto = hosts["db2"].file(f"{PG['data_dir']}/postgresql.auto.conf").content_string
    assert "password" not in auto and "primary_conninfo" not in auto


# --- 2. Scale-out by inventory: web2 and db3 added, site.yml run again ------------------------

def firewall_rules(host) -> str:
    """The rules of the host's firewall as nftables holds them (its own table)."""
    return host.check_output("nft list table inet django_deploy")


def main_pids(hosts):
    """What runs on the hosts that were there before the scale-out: PIDs that a restart changes."""
    return {
        "db1 postmaster": hosts["db1"].check_output(f"head -n 1 {PG['data_dir']}/postmaster.pid"),
        "db1 started": sql(hosts["db1"], "SELECT pg_postmaster_start_time()"),
        "db2 postmaster": hosts["db2"].check_output(f"head -n 1 {PG['data_dir']}/postmaster.pid"),
        "web1 gunicorn": hosts["web1"].check_output("systemctl show -P MainPID gunicorn-demo"),
        "web1 nginx": hosts["web1"].check_output("systemctl show -P MainPID nginx"),
        # HAProxy reloads in master-worker mode: the master's PID stays, the workers are new.
        "lb1 haproxy": hosts["lb1"].check_output("systemctl show -P MainPID haproxy"),
    }


@pytest.fixture(scope="module")
def scaled(hosts, playbook, loadgen):
    """Record the PIDs and addresses; under load through lb1, start web2 and db3 (as `make demo`
    does for hosts added to its inventory), add them to the inventory and run site.yml again."""
    before = main_pids(hosts)
    running = [name for name in hosts if name not in NEW_HOSTS]
    rules = {name: firewall_rules(hosts[name]) for name in running if name != "out1"}
    since = hosts["web1"].check_output("date +%s")
    addresses = {name: private_address(hosts[name]) for name in running}
    started = time.monotonic()
    with loadgen("scale-out", min_requests=500) as load:
        start = playbook(START_HOSTS)
        assert start.returncode == 0, start.stdout[-4000:]
        moved = {name: private_address(hosts[name]) for name in running}
        assert not hosts["web2"].package("nginx").is_installed, "web2 starts outside the web tier"
        assert not hosts["db3"].package(PG["packages"][0]).is_installed, "db3 starts outside the database groups"
        run = playbook(SITE, extra_inventories=[ADD_HOSTS])
    report(f"scale-out: web2 and db3 started and brought in by site.yml in {time.monotonic() - started:.0f} s,"
           f" rc {start.returncode}/{run.returncode}")
    assert run.returncode == 0, run.stdout[-4000:]
    return {"before": before, "after": main_pids(hosts), "output": run.stdout, "addresses": (addresses, moved),
            "load": load, "since": since, "rules": (rules, {name: firewall_rules(hosts[name]) for name in [*rules, *NEW_HOSTS]})}


def test_starting_hosts_moved_no_running_host(scaled):
    before, after = scaled["addresses"]
    assert after == before


def test_site_answered_throughout_the_scale_out(scaled):
    load = scaled["load"]
    assert load["total"] >= 500 and load["failed"] == 0, load_summary("scale-out", load)


def test_the_new_hosts_opened_exactly_the_ports_they_need(hosts, scaled):
    before, after = scaled["rules"]
    # The database hosts changed their rules (web2 and db3 are new clients of PostgreSQL); the
    # load balancer and web1, which nothing new connects to, did not.
    assert before["db1"] != after["db1"] and before["db2"] != after["db2"]
    assert after["lb1"] == before["lb1"] and after["web1"] == before["web1"]
    # web2's nginx is open to lb1 only.
    lb1 = private_address(hosts["lb1"])
    assert [line.strip() for line in after["web2"].splitlines() if "dport 80 " in line] == [
        f"ip saddr {lb1} tcp dport 80 accept"], after["web2"]
    # What they opened works: the new app host reaches every database host, the new database
    # host the others (replication) and the app host it; an outsider still reaches none.
    addresses = {name: private_address(hosts[name]) for name in ("web1", "web2", "db1", "db2", "db3")}
    for client, servers in {"web2": ("db1", "db2", "db3"), "db3": ("db1", "db2"), "web1": ("db3",)}.items():
        answers = probe(hosts[client], [f"{addresses[name]}:5432" for name in servers])
        assert set(answers.values()) == {"open"}, (client, answers)
    outside = probe(hosts["out1"], [f"{addresses['db3']}:5432", f"{addresses['web2']}:80"])
    assert set(outside.values()) == {"timeout"}, outside


def test_web1_took_the_new_replica_in_new_workers_without_a_reload(hosts, scaled):
    # Its settings module changed (db3 is a replica): new workers (TTIN) loaded it before the old
    # ones were stopped (TTOU); no HUP, which stops the old ones first.
    journal = hosts["web1"].check_output(f"journalctl -u gunicorn-demo.service --since @{scaled['since']} -o cat")
    signals = re.findall(r"Handling signal: (\w+)", journal)
    assert "ttin" in signals and "ttou" in signals and "hup" not in signals, signals


def test_nothing_already_running_was_restarted(scaled):
    assert scaled["after"] == scaled["before"]


def test_haproxy_lists_both_web_hosts_up(hosts, scaled):
    both_up = {"web1": "UP", "web2": "UP"}
    # Health checks every few seconds bring web2 UP.
    assert eventually(lambda: haproxy_servers(hosts["lb1"]) == both_up, timeout=30), haproxy_servers(hosts["lb1"])


def test_requests_reach_both_web_hosts(http, scaled):
    answers = [http(LB, DEMO_HOST) for _ in range(20)]
    assert {a.get("status") for a in answers} == {200}, answers[0]
    by = [a["headers"]["x-served-by"] for a in answers]
    assert set(by) == {"web1", "web2"} and min(by.count(h) for h in ("web1", "web2")) >= 5, by


def test_web_hosts_have_the_same_replicas(hosts, scaled):
    web1, web2 = (hosts[h].file(SETTINGS).content_string for h in ("web1", "web2"))
    assert web1 == web2
    assert web1.count('"TEST": {"MIRROR": "default"}') == 2, "replica1 (db2) and replica2 (db3)"


def test_second_run_changes_nothing(playbook, scaled):
    again = playbook(SITE, extra_inventories=[ADD_HOSTS])
    assert again.returncode == 0, again.stdout[-4000:]
    changed = {h: c["changed"] for h, c in recap(again.stdout).items()}
    assert changed and all(n == 0 for n in changed.values()), changed_tasks(again.stdout)


# --- 3. The replicas db2 and db3 ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["db2", "db3"])
def test_replica_is_a_streaming_standby(hosts, scaled, name):
    host = hosts[name]
    assert sql(host, "SELECT pg_is_in_recovery()") == "t"
    assert host.file(f"{PG['data_dir']}/standby.signal").exists
    receiver = sql(host, "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver")
    assert receiver == f"streaming|{private_address(hosts['db1'])}|replica_{name}"


def test_primary_sees_one_streaming_row_per_replica(hosts, scaled):
    rows = sql(hosts["db1"], "SELECT application_name, state, client_addr FROM pg_stat_replication "
               "ORDER BY 1").splitlines()
    assert rows == [f"db2|streaming|{private_address(hosts['db2'])}", f"db3|streaming|{private_address(hosts['db3'])}"]
    slots = sql(hosts["db1"], "SELECT slot_name, slot_type, active, wal_status FROM pg_replication_slots "
                "ORDER BY 1").splitlines()
    assert slots == ["replica_db2|physical|t|reserved", "replica_db3|physical|t|reserved"]


def test_row_written_on_the_primary_is_read_on_every_replica_within_10s(hosts, scaled):
    marker = uuid.uuid4().hex
    sql(hosts["db1"], "CREATE TABLE IF NOT EXISTS replication_probe (marker text PRIMARY KEY)", db="demo")
    sql(hosts["db1"], f"INSERT INTO replication_probe VALUES ('{marker}')", db="demo")
    for name in ("db2", "db3"):
        seen = eventually(lambda: sql(hosts[name], f"SELECT count(*) FROM replication_probe "
                                      f"WHERE marker = '{marker}'", db="demo") == "1", timeout=10)
        assert seen, f"{name} did not show the row within 10 s"


@pytest.mark.parametrize("name", ["db2", "db3"])
def test_writes_on_a_replica_are_refused(hosts, scaled, name):
    result = unchecked_sql(hosts[name], "INSERT INTO replication_probe VALUES ('nope')", db="demo")
    assert result.rc != 0 and "read-only transaction" in result.stderr


def _info(inventory, name, args="", check=True):
    """The collection's pg_replication_info module on one host, ad hoc, as postgres: its result."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    cmd = [str(Path(sys.executable).parent / "ansible"), "-i", inventory, name, "-b", "--become-user", "postgres",
           "-m", "django_deploy.stack.pg_replication_info", "-a", args] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"][name]


def test_pg_replication_info_on_the_primary(inventory, scaled):
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


def test_pg_replication_info_on_a_standby_and_its_timeout(inventory, scaled):
    result = _info(inventory, "db2", "max_replay_lag_bytes=0 wait_timeout=10")
    assert result["role"] == "standby" and result["in_recovery"] is True and result["standbys"] == []
    receiver = result["receiver"]
    assert receiver["status"] == "streaming" and receiver["slot_name"] == "replica_db2"
    assert receiver["replay_lag_bytes"] == 0
    missing = _info(inventory, "db1", "expected_standbys=db2,db3,db9 wait_timeout=2")
    assert missing["failed"] and missing["problems"] == ["db9: not connected"]
    assert "after 2 s" in missing["msg"]


# --- 4. promote.yml: db2 becomes the primary, the app follows ---------------------------------
# The inventory is still the scaled-out one (add-hosts.ini): db1 in db_primary, db2 and db3 in
# db_replicas, web1 and web2 in webservers, as a user runs promote.yml before editing it.

def test_promote_refuses_a_lagging_replica(hosts, playbook, scaled):
    db1, db2 = hosts["db1"], hosts["db2"]
    sql(db2, "SELECT pg_wal_replay_pause()")
    try:
        sql(db1, "CREATE TABLE lag_probe AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g",
            db="demo")
        refused = playbook(PROMOTE, "-e", "promote_replica=db2", "-e", "promote_max_lag_bytes=0",
                           extra_inventories=[ADD_HOSTS])
        assert refused.returncode != 0
        assert "promoting now would lose those writes" in refused.stdout, refused.stdout[-3000:]
        assert sql(db2, "SELECT pg_is_in_recovery()") == "t"
        assert db1.service(PG["service"]).is_running, "a refused promotion fences nothing"
    finally:
        sql(db2, "SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def promoted(hosts, playbook, scaled):
    """Write a row on db1, then run promote.yml -e promote_replica=db2, app step included."""
    marker = uuid.uuid4().hex
    sql(hosts["db1"], "CREATE TABLE IF NOT EXISTS replication_probe (marker text PRIMARY KEY)", db="demo")
    sql(hosts["db1"], f"INSERT INTO replication_probe VALUES ('{marker}')", db="demo")  # acknowledged by db1
    run = playbook(PROMOTE, "-e", "promote_replica=db2", extra_inventories=[ADD_HOSTS])
    assert run.returncode == 0, run.stdout[-4000:]
    return {"marker": marker, "output": run.stdout}


def test_promote_db2(hosts, promoted):
    db1, db2, db3 = hosts["db1"], hosts["db2"], hosts["db3"]
    # db2 accepts writes and lost nothing acknowledged before the promotion.
    assert sql(db2, "SELECT pg_is_in_recovery()") == "f"
    assert sql(db2, f"SELECT count(*) FROM replication_probe WHERE marker = '{promoted['marker']}'", db="demo") == "1"
    after = uuid.uuid4().hex
    sql(db2, f"INSERT INTO replication_probe VALUES ('{after}')", db="demo")
    # The old primary is stopped and masked.
    assert db1.run(f"systemctl is-enabled {PG['service']}").stdout.strip() == "masked"
    assert not db1.service(PG["service"]).is_running
    assert db1.run(f"systemctl start {PG['service']}").rc != 0, "nothing can start the fenced primary"
    # db3 streams from db2 and sees the write made there.
    receiver = sql(db3, "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver")
    assert receiver == f"streaming|{private_address(db2)}|replica_db3"
    assert eventually(lambda: sql(db3, f"SELECT count(*) FROM replication_probe WHERE marker = '{after}'",
                                  db="demo") == "1", timeout=10)
    assert sql(db2, "SELECT application_name, state FROM pg_stat_replication") == "db3|streaming"
    assert sql(db2, "SELECT slot_name, active FROM pg_replication_slots") == "replica_db3|t"
    # Exactly one primary: db1 is down, db3 is in recovery.
    assert sql(db3, "SELECT pg_is_in_recovery()") == "t"


def test_promote_db2_repoints_the_app(hosts, http, promoted):
    """promote.yml's last step: the app servers' settings name the new primary and writes land there."""
    db2_address = private_address(hosts["db2"])
    for web in ("web1", "web2"):
        settings = hosts[web].file(SETTINGS).content_string
        assert f'"default": {{**_DATABASE, "HOST": "{db2_address}", "PORT": "5432"}}' in settings
    # A note posted through lb1 is written on db2, the new primary (the app servers have just
    # reloaded: wait for the page first).
    assert eventually(lambda: http(LB, DEMO_HOST).get("status") == 200, timeout=60), http(LB, DEMO_HOST)
    text = f"after promotion {uuid.uuid4().hex}"
    posted = post_note(http, LB, DEMO_HOST["Host"], text)
    assert posted.get("status") == 302, posted
    assert sql(hosts["db2"], f"SELECT count(*) FROM notes_note WHERE text = '{text}'", db="demo") == "1"
    assert sql(hosts["db2"], "SELECT pg_is_in_recovery()") == "f"


# --- 5. reseed.yml: the old primary comes back as a standby of db2 ----------------------------

@pytest.fixture(scope="module")
def promoted_inventory(edited_inventory, promoted):
    """The inventory as the user edits it after promote.yml: db2 the primary, db1 and db3 replicas,
    web1 and web2 the web servers (web2's app access on db2 comes from this), nothing spare."""
    return edited_inventory("after-promotion", {
        "db_primary": ["db2"], "db_replicas": ["db1", "db3"], "webservers": ["web1", "web2"], "spare": []})


def test_reseed_refuses_the_primary(promoted_inventory):
    refused = run_playbook(str(promoted_inventory), RESEED, "-e", "reseed_host=db2")
    assert refused.returncode != 0
    assert "reseed: set reseed_host to a host of db_replicas" in refused.stdout, refused.stdout[-3000:]


def test_reseed_makes_the_old_primary_a_standby_of_db2(hosts, promoted_inventory):
    db1, db2 = hosts["db1"], hosts["db2"]
    marker = sql(db2, "SELECT max(marker) FROM replication_probe", db="demo")
    reseeded = run_playbook(str(promoted_inventory), RESEED, "-e", "reseed_host=db1")
    assert reseeded.returncode == 0, reseeded.stdout[-4000:]
    # The old data directory is kept aside, the unit unmasked, the host streams from db2.
    kept = db1.check_output(f"ls -d {PG['data_dir']}.pre-reseed-*").split()
    assert len(kept) == 1 and db1.file(f"{kept[0]}/PG_VERSION").exists
    assert db1.run(f"systemctl is-enabled {PG['service']}").stdout.strip() == "enabled"
    assert sql(db1, "SELECT pg_is_in_recovery()") == "t"
    receiver = sql(db1, "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver")
    assert receiver == f"streaming|{private_address(db2)}|replica_db1"
    assert sql(db1, f"SELECT count(*) FROM replication_probe WHERE marker = '{marker}'", db="demo") == "1"
    assert sql(db2, "SELECT application_name, state FROM pg_stat_replication ORDER BY 1").splitlines() == \
        ["db1|streaming", "db3|streaming"]


# --- 6. A replica removed from the inventory ---------------------------------------------------

def test_removing_db3_from_db_replicas_drops_its_slot_and_its_access(hosts, edited_inventory, promoted_inventory):
    """The user takes db3 out of db_replicas and re-runs site.yml: the primary (db2) ends its WAL
    sender, drops its slot (a dead replica's slot would keep WAL forever) and pg_hba no longer
    lets it in; db1 goes on streaming."""
    db2 = hosts["db2"]
    without_db3 = edited_inventory("without-db3", {
        "db_primary": ["db2"], "db_replicas": ["db1"], "webservers": ["web1", "web2"], "spare": ["db3"]})
    run = run_playbook(str(without_db3), SITE)
    assert run.returncode == 0, run.stdout[-4000:]
    assert sql(db2, "SELECT slot_name FROM pg_replication_slots ORDER BY 1") == "replica_db1"
    assert sql(db2, "SELECT application_name, state FROM pg_stat_replication ORDER BY 1") == "db1|streaming"
    assert not re.search(rf"\s{re.escape(private_address(hosts['db3']))}/32\s", db2.file(f"{PG['config_dir']}/pg_hba.conf").content_string), \
        "db3 may no longer connect"
