"""Fixtures of the modern scenario, from the shared scenario helpers."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import cluster_plan, hosts, http_fixture, inventory, playbook  # noqa: E402,F401

http = http_fixture(client="lb1")
