"""Hosts of the replication scenario by name (molecule/shared/scenario_testing.py), SQL helpers
and a nested ansible-playbook runner that may replace the scenario's inventory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import ROOT, eventually, hosts, inventory  # noqa: E402,F401

SCENARIO = Path(__file__).resolve().parents[1]


def sql(host, query, db="postgres", check=True):
    """Run one query as the postgres superuser over the local socket; unaligned, tuples only."""
    cmd = host.run("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s", db, query)
    if check:
        assert cmd.rc == 0, f"{query}: {cmd.stderr}"
    return cmd


def value(host, query, db="postgres"):
    return sql(host, query, db).stdout.strip()


@pytest.fixture(scope="session")
def playbook(inventory):
    """Run a playbook against the scenario's inventory (plus extra sources), as molecule does."""

    def run(path, *args, extra_inventories=(), inventory_override=False):
        """inventory_override: args carry their own -i, used instead of the scenario's inventory."""
        cmd = [str(Path(sys.executable).parent / "ansible-playbook")] + ([] if inventory_override else ["-i", inventory])
        for extra in extra_inventories:
            cmd += ["-i", str(extra)]
        cmd += [str(path), *args]
        # One stream: ansible-core 2.19 prints task errors on stderr, the recap on stdout.
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1"), cwd=SCENARIO)

    return run
