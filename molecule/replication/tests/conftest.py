"""Hosts of the replication scenario by name, SQL helpers and a nested ansible-playbook runner."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]


@pytest.fixture(scope="session")
def inventory(request):
    return request.config.option.ansible_inventory or os.environ["MOLECULE_INVENTORY_FILE"]


@pytest.fixture(scope="session")
def hosts(inventory):
    names = ("db1", "db2", "db3", "app1", "out1")
    return {n: testinfra.get_host(f"ansible://{n}", ansible_inventory=inventory) for n in names}


def sql(host, query, db="postgres", check=True):
    """Run one query as the postgres superuser over the local socket; unaligned, tuples only."""
    cmd = host.run("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s", db, query)
    if check:
        assert cmd.rc == 0, f"{query}: {cmd.stderr}"
    return cmd


def value(host, query, db="postgres"):
    return sql(host, query, db).stdout.strip()


def eventually(check, timeout=10.0, interval=0.5):
    """Poll check() until it returns truthy or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="session")
def playbook(inventory):
    """Run a playbook against the scenario's inventory (plus extra sources), as molecule does."""

    def run(path, *args, extra_inventories=(), inventory_override=False):
        """inventory_override: args carry their own -i, used instead of the scenario's inventory."""
        cmd = ["ansible-playbook"] + ([] if inventory_override else ["-i", inventory])
        for extra in extra_inventories:
            cmd += ["-i", str(extra)]
        cmd += [str(path), *args]
        # One stream: ansible-core 2.19 prints task errors on stderr, the recap on stdout.
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1"), cwd=SCENARIO)
        return proc

    return run
