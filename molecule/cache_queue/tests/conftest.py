"""Shared fixtures: other hosts of the scenario, the cluster plan, and a converge runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

ROOT = Path(__file__).resolve().parents[3]
# Import the collection's own plan code exactly as Ansible does (collections/ links to ROOT).
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.django_deploy.stack.plugins.module_utils import plan  # noqa: E402


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
def app_password(inventory) -> str:
    return AnsibleRunner(inventory).get_variables("client1")["rabbitmq_app_password"]


def private_address(host) -> str:
    """The source address of the default route: Ansible's default_ipv4 address."""
    words = host.check_output("ip -4 -o route get 1.1.1.1").split()
    return words[words.index("src") + 1]


@pytest.fixture(scope="session")
def converge(inventory):
    """Run the scenario's converge.yml again (optionally limited / with extra vars); return the recap."""
    def _run(limit: str, *extra: str) -> str:
        playbook = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).parents[1])) / "converge.yml"
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, str(playbook),
               "--limit", limit, *extra]
        env = {**os.environ, "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true"}
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout
    return _run
