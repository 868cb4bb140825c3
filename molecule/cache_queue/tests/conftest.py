"""The cache_queue scenario's fixtures: the shared ones (molecule/shared/scenario_testing.py), the
app's broker password, and a converge runner."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import cluster_plan, hosts, inventory, playbook, private_address  # noqa: E402,F401  (fixtures)


@pytest.fixture(scope="session")
def app_password(inventory) -> str:
    return AnsibleRunner(inventory).get_variables("client1")["rabbitmq_app_password"]


@pytest.fixture(scope="session")
def converge(playbook):
    """Run the scenario's converge.yml again (limited, with extra arguments); return its output."""
    def _run(limit: str, *extra: str) -> str:
        result = playbook("converge.yml", "--limit", limit, *extra, timeout=600)
        assert result.returncode == 0, result.stdout[-6000:]
        return result.stdout
    return _run
