"""Fixtures of the backup scenario, from the shared scenario helpers: an HTTP client inside db2
(outside the web tier), the demo page through lb1."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import (  # noqa: E402,F401  (fixtures and the hook are registered by importing them here)
    ROOT, eventually, hosts, http_fixture, inventory, playbook, post_note, private_address, pytest_terminal_summary, report,
    sql)

SITE = "backup.example.test"
LB = "http://lb1/"

http = http_fixture(client="backup1")
