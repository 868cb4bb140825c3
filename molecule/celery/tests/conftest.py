"""The celery scenario's fixtures: the shared ones (molecule/shared/scenario_testing.py), its hosts
and units, and the app's manage shell."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import cluster_plan, hosts, inventory, playbook  # noqa: E402,F401  (fixtures)

WORKERS = ["worker1", "worker2"]
BEAT = "beat1"  # only in celery_beat: the one beat, with the database scheduler
WORKER_UNIT = "celery-demo-worker-default.service"
BEAT_UNIT = "celery-demo-beat.service"


@pytest.fixture(scope="session")
def shell(hosts):
    """Run Python in `demo-manage shell` on a host (as the app account, deployed settings); the
    last line it prints (Django 5.2 reports its automatic imports first)."""
    def _run(name: str, code: str) -> str:
        out = hosts[name].check_output("/usr/local/sbin/demo-manage shell -c %s", code).strip()
        return out.splitlines()[-1] if out else ""
    return _run
