"""site.yml refuses a bad inventory before it touches any host, naming what to fix.

The hosts below do not exist: a check that tried to reach one would fail with UNREACHABLE
instead of the message we assert, so these runs also prove nothing was contacted.
"""
from __future__ import annotations

import os
import shutil
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


def _ansible_playbook() -> str:
    """The ansible-playbook to run: $ANSIBLE_PLAYBOOK if set, else the one installed beside this
    Python (the virtualenv's, under plain pytest or `ansible-test units --local`), else the first on
    PATH (ansible-test units puts one there that runs the ansible-core it tests with)."""
    configured = os.environ.get("ANSIBLE_PLAYBOOK")
    if configured:
        return configured
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if found is None:
        pytest.fail(f"ansible-playbook is neither beside {sys.executable} nor on PATH; set ANSIBLE_PLAYBOOK")
    return found


def _run_site(tmp_path: Path, inventory: dict, playbook_file: str = "site.yml") -> subprocess.CompletedProcess:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FACT_CACHING_CONNECTION": str(tmp_path / "facts")}
    # The playbook is expected to fail (these tests read its message), so no check=True.
    return subprocess.run([_ansible_playbook(), "-i", str(path), playbook_file], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


GOOD = {"webservers": ["web1"], "db_primary": ["db1"], "db_replicas": ["db2"],
        "rabbitmq": ["mq1"], "celery_workers": ["worker1"], "celery_beat": ["worker1"]}


@pytest.mark.parametrize(("change", "expected"), [
    ({"db_primary": ["db1", "db3"]}, "Rule 'exactly one database primary': group db_primary has db1, db3"),
    ({"db_primary": []}, "Rule 'exactly one database primary': group db_primary has no host"),
    ({"celery_beat": ["worker1", "web1"]}, "Rule 'at most one Celery beat': group celery_beat has"),
    ({"db_replicas": ["db1"]}, "host db1 is in both db_primary and db_replicas"),
    ({"rabbitmq": []}, "but groups rabbitmq and redis have no host"),
    ({"webservers": []}, "Rule 'at least one web server': group webservers has no host"),
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
