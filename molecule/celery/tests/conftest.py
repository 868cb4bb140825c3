"""The celery scenario's fixtures: the shared ones (molecule/shared/scenario_testing.py), its hosts
and units, the app's manage shell, the app's broker password and a converge runner.

pytest runs the files alphabetically: test_assert, test_celery, test_memcached (two tests re-run
converge on cache1, one restarts memcached), test_rabbitmq (read-only), then test_rabbitmq_app,
whose failover test stops and restarts mq1. So the disruptive tests run after the Celery tests,
and each leaves the hosts as it found them: keep it so when adding or renaming files."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import cluster_plan, hosts, inventory, playbook, private_address  # noqa: E402,F401  (fixtures)

WORKERS = ["worker1", "worker2"]
BEAT = "beat1"  # only in celery_beat: the one beat, with the database scheduler
WORKER_UNIT = "celery-demo-worker-default.service"
BEAT_UNIT = "celery-demo-beat.service"
APP_CLIENT = "web1"  # the app-side host: sends tasks, talks to memcached and RabbitMQ
CACHE = "cache1"
BROKERS = ["mq1", "mq2", "mq3"]  # mq1 first: the seed the others joined


@pytest.fixture(scope="session")
def shell(hosts):
    """Run Python in `demo-manage shell` on a host (as the app account, deployed settings); the
    last line it prints (Django 5.2 reports its automatic imports first)."""
    def _run(name: str, code: str) -> str:
        out = hosts[name].check_output("/usr/local/sbin/demo-manage shell -c %s", code).strip()
        return out.splitlines()[-1] if out else ""
    return _run


@pytest.fixture(scope="session")
def app_password(inventory) -> str:
    return AnsibleRunner(inventory).get_variables(APP_CLIENT)["rabbitmq_app_password"]


@pytest.fixture(scope="session")
def converge(playbook):
    """Run the scenario's converge.yml again (limited, with extra arguments); return its output."""
    def _run(limit: str, *extra: str) -> str:
        result = playbook("converge.yml", "--limit", limit, *extra, timeout=600)
        assert result.returncode == 0, result.stdout[-6000:]
        return result.stdout
    return _run
