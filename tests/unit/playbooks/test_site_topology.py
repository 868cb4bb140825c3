"""site.yml refuses a bad inventory before it touches any host, naming what to fix.

The hosts below do not exist: a check that tried to reach one would fail with UNREACHABLE
instead of the message we assert, so these runs also prove nothing was contacted.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SECRETS = {
    "django_app_secret_key": "s",
    "postgresql_app_password": "p",
    "postgresql_replication_password": "r",
    "rabbitmq_app_password": "q",
}


def _inventory(groups: dict[str, list[str]], secrets: dict[str, str]) -> dict:
    return {"all": {
        "vars": {"ansible_host": "192.0.2.1", "ansible_connection": "ssh", **secrets},
        "children": {g: {"hosts": {h: None for h in hosts}} for g, hosts in groups.items()},
    }}


def _run_site(tmp_path: Path, inventory: dict, playbook_file: str = "site.yml") -> subprocess.CompletedProcess:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FACT_CACHING_CONNECTION": str(tmp_path / "facts")}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run([str(playbook), "-i", str(path), playbook_file], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


GOOD = {"webservers": ["web1"], "db_primary": ["db1"], "db_replicas": ["db2"],
        "rabbitmq": ["mq1"], "celery_workers": ["worker1"], "celery_beat": ["worker1"]}


@pytest.mark.parametrize(("change", "expected"), [
    ({"db_primary": ["db1", "db3"]}, "db_primary exactly one (has db1, db3)"),
    ({"db_primary": []}, "db_primary exactly one (has none)"),
    ({"celery_beat": ["worker1", "web1"]}, "celery_beat at most one (has w"),
    ({"db_replicas": ["db1"]}, "db_primary and db_replicas (db1)"),
    ({"rabbitmq": []}, "celery_workers and celery_beat need at least one host in rabbitmq"),
    ({"webservers": []}, "webservers needs at least one host"),
], ids=["two-primaries", "no-primary", "two-beats", "primary-is-replica", "celery-without-broker", "no-web"])
def test_bad_topology_is_refused_before_any_host_is_contacted(tmp_path, change, expected):
    result = _run_site(tmp_path, _inventory({**GOOD, **change}, SECRETS))
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert expected in out
    assert "UNREACHABLE" not in out


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_missing_secret_is_named(tmp_path, secret):
    secrets = {k: v for k, v in SECRETS.items() if k != secret}
    result = _run_site(tmp_path, _inventory(GOOD, secrets))
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert f"{secret} is not set for host" in out
    assert "UNREACHABLE" not in out
