"""Fixtures of the scale_out scenario, from the shared scenario helpers."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import (  # noqa: E402,F401  (fixtures and the hook are registered by importing them here)
    ROOT, hosts, http_fixture, inventory, playbook, pytest_terminal_summary)

SCENARIO = Path(__file__).resolve().parents[1]

http = http_fixture(client="db1")  # a client outside the web tier
