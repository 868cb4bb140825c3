"""Issue 7's scale-out acceptance: adding hosts to the inventory and re-running site.yml brings
them in without restarting what runs on the hosts already there; then promote.yml's app step.

The tests run in file order and share one cluster: the first one scales out, the last promotes.
"""
from __future__ import annotations

import time
import uuid

import pytest

from conftest import ROOT, SCENARIO
from scenario_testing import changed_tasks, eventually, haproxy_servers, post_note, private_address, recap, report, sql

SITE = ROOT / "playbooks" / "site.yml"
PROMOTE = ROOT / "playbooks" / "promote.yml"
ADD_HOSTS = SCENARIO / "add-hosts.ini"
LB = "http://lb1/"
DEMO_HOST = {"Host": "demo.example.test"}


def main_pids(hosts):
    """What runs on the hosts that were there before the scale-out: PIDs that a restart changes."""
    return {
        "db1 postmaster": hosts["db1"].check_output("head -n 1 /var/lib/postgresql/15/main/postmaster.pid"),
        "db2 postmaster": hosts["db2"].check_output("head -n 1 /var/lib/postgresql/15/main/postmaster.pid"),
        "web1 gunicorn": hosts["web1"].check_output("systemctl show -P MainPID gunicorn-demo"),
        "web1 nginx": hosts["web1"].check_output("systemctl show -P MainPID nginx"),
        # HAProxy reloads in master-worker mode: the master's PID stays, the workers are new.
        "lb1 haproxy": hosts["lb1"].check_output("systemctl show -P MainPID haproxy"),
    }


@pytest.fixture(scope="module")
def scaled(hosts, playbook):
    """Record the PIDs, add web2 and db3 to the inventory and run site.yml again."""
    before = main_pids(hosts)
    assert not hosts["web2"].package("nginx").is_installed, "web2 starts outside the web tier"
    assert not hosts["db3"].package("postgresql-15").is_installed, "db3 starts outside the database groups"
    started = time.monotonic()
    run = playbook(SITE, extra_inventories=[ADD_HOSTS])
    report(f"scale-out: site.yml with web2 and db3 added took {time.monotonic() - started:.0f} s, rc {run.returncode}")
    assert run.returncode == 0, run.stdout[-4000:]
    return {"before": before, "after": main_pids(hosts), "output": run.stdout}


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


def test_db3_streams_from_db1(hosts, scaled):
    db1_address = private_address(hosts["db1"])
    assert sql(hosts["db3"], "SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver") == \
        f"streaming|{db1_address}|replica_db3"
    assert sql(hosts["db1"], "SELECT application_name, state FROM pg_stat_replication ORDER BY 1").splitlines() == \
        ["db2|streaming", "db3|streaming"]


def test_web_hosts_have_the_same_replicas(hosts, scaled):
    settings = "/etc/demo/python/django_deploy_settings.py"
    web1, web2 = (hosts[h].file(settings).content_string for h in ("web1", "web2"))
    assert web1 == web2
    assert web1.count('"TEST": {"MIRROR": "default"}') == 2, "replica1 (db2) and replica2 (db3)"


def test_second_run_changes_nothing(playbook, scaled):
    again = playbook(SITE, extra_inventories=[ADD_HOSTS])
    assert again.returncode == 0, again.stdout[-4000:]
    changed = {h: c["changed"] for h, c in recap(again.stdout).items()}
    assert changed and all(n == 0 for n in changed.values()), changed_tasks(again.stdout)


def test_promote_db2_repoints_the_app(hosts, http, playbook, scaled):
    """promote.yml's last step: the app servers' settings name the new primary and writes land there."""
    promoted = playbook(PROMOTE, "-e", "promote_replica=db2", extra_inventories=[ADD_HOSTS])
    assert promoted.returncode == 0, promoted.stdout[-4000:]
    db2_address = private_address(hosts["db2"])
    for web in ("web1", "web2"):
        settings = hosts[web].file("/etc/demo/python/django_deploy_settings.py").content_string
        assert f'"default": {{**_DATABASE, "HOST": "{db2_address}", "PORT": "5432"}}' in settings
    # A note posted through lb1 is written on db2, the new primary (the app servers have just
    # reloaded: wait for the page first).
    assert eventually(lambda: http(LB, DEMO_HOST).get("status") == 200, timeout=60), http(LB, DEMO_HOST)
    text = f"after promotion {uuid.uuid4().hex}"
    posted = post_note(http, LB, DEMO_HOST["Host"], text)
    assert posted.get("status") == 302, posted
    assert sql(hosts["db2"], f"SELECT count(*) FROM notes_note WHERE text = '{text}'", db="demo") == "1"
    assert sql(hosts["db2"], "SELECT pg_is_in_recovery()") == "f"
