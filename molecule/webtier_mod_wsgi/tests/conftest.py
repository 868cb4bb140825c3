"""Fixtures of the webtier_mod_wsgi scenario, from the shared scenario helpers: hosts by name,
an HTTP client on db1, the cluster plan, a playbook runner."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import (  # noqa: E402,F401  (fixtures are registered by importing them here)
    ROOT, cluster_plan, hosts, http_fixture, inventory, playbook)

SITE = "demo.example.test"

http = http_fixture(client="db1")


@pytest.fixture(scope="session")
def plan(cluster_plan):
    """The plan of each host by name, computed by the collection's own code over the inventory
    (which sets django_app_server and the mod_wsgi overrides)."""
    return cluster_plan["hosts"]
