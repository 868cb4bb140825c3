"""Fixtures of the scale_out scenario, from the shared scenario helpers."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import ROOT, hosts, http_fixture, inventory, playbook  # noqa: E402,F401

SCENARIO = Path(__file__).resolve().parents[1]

http = http_fixture(client="db1")  # a client outside the web tier
