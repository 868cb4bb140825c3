"""Shared fixtures: other hosts of the scenario, the cluster plan, and the app's manage command."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

ROOT = Path(__file__).resolve().parents[3]
# Import the collection's own plan code exactly as Ansible does (collections/ links to ROOT).
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.django_deploy.stack.plugins.module_utils import plan  # noqa: E402

HOSTS = ["db1", "mq1", "web1", "worker1", "worker2"]
WORKERS = ["worker1", "worker2"]
WORKER_UNIT = "celery-demo-worker-default.service"
BEAT_UNIT = "celery-demo-beat.service"


@pytest.fixture(scope="session")
def inventory(pytestconfig) -> str:
    return pytestconfig.getoption("ansible_inventory")


@pytest.fixture(scope="session")
def get_host(inventory):
    """Any host of the scenario by inventory name, for checks that span hosts."""
    def _get(name: str):
        return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")
    return _get


@pytest.fixture(scope="session")
def cluster_plan(inventory) -> dict:
    """The plan the roles read: the same function over the same inventory (sizes set there)."""
    runner = AnsibleRunner(inventory)
    names = runner.get_hosts("all")
    hostvars = {name: runner.get_variables(name) for name in names}
    groups = hostvars[names[0]]["groups"]
    return plan.cluster_plan(plan.hosts_from_inventory(hostvars, groups))


@pytest.fixture(scope="session")
def shell(get_host):
    """Run Python in `demo-manage shell` on a host (as the app account, deployed settings); the
    last line it prints (Django 5.2 reports its automatic imports first)."""
    def _run(name: str, code: str) -> str:
        out = get_host(name).check_output("/usr/local/sbin/demo-manage shell -c %s", code).strip()
        return out.splitlines()[-1] if out else ""
    return _run
