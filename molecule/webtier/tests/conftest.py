"""Hosts of the webtier scenario by name, an HTTP client on db1, the cluster plan, a playbook
runner (molecule/shared/scenario_testing.py), and the load generator (tools/loadgen.py) run on
db1 against HAProxy."""
from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import (  # noqa: E402,F401  (fixtures and the hook are registered by importing them here)
    ROOT, cluster_plan, hosts, http_fixture, inventory, playbook, pytest_terminal_summary, report)

SITE = "demo.example.test"
LOADGEN = "/usr/local/bin/django-deploy-loadgen"
http = http_fixture(client="db1")  # a client outside the web tier


@pytest.fixture(scope="session")
def plan(cluster_plan):
    """The plan of each host by name, computed by the collection's own code over the inventory."""
    return cluster_plan["hosts"]


def load_summary(name, result):
    """One line of what the load generator saw (failed = non-2xx/3xx + transport errors + slower than 5 s)."""
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(result["failed_by_kind"].items()))
    latency = result["latency_ms"]
    return (f"load during {name}: {result['total']} requests in {result['duration_s']} s, {result['failed']} failed"
            f" ({kinds}), p50 {latency['p50']} ms, p99 {latency['p99']} ms, max {latency['max']} ms;"
            f" served by {json.dumps(result['served_by'], sort_keys=True)}; page versions"
            f" {json.dumps(result['versions'])}; errors {result['errors'][:3]}")


@pytest.fixture(scope="session")
def loadgen(hosts, http):
    """loadgen(name, min_requests=...): a context manager running tools/loadgen.py on db1 against
    http://lb1/ (the page, which reads the database and the cache, and a static file) for as long
    as its block runs and at least min_requests; it yields a dict filled, when the block ends,
    with the counts, which are also printed (pytest -s and the molecule log show them)."""
    client = hosts["db1"]
    script = base64.b64encode((ROOT / "tools" / "loadgen.py").read_bytes()).decode()
    client.check_output(f"echo {script} | base64 -d > {LOADGEN} && chmod 0755 {LOADGEN}")
    page = http("http://lb1/", {"Host": SITE})
    css = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', page["body"]).group(1)

    @contextlib.contextmanager
    def run(name, min_requests=2000, rate=40, threads=6):
        out, stop = f"/tmp/loadgen-{name}.json", f"/tmp/loadgen-{name}.stop"
        client.check_output(f"rm -f {out} {stop}")
        # A transient unit: it outlives this command, and systemd bounds it even if we do not stop it.
        client.check_output(
            f"systemd-run --unit=loadgen-{name} --collect -p RuntimeMaxSec=1800 {LOADGEN}"
            f" --url http://lb1 --host {SITE} --path / --path {css} --threads {threads} --rate {rate}"
            f" --timeout 5 --min-requests {min_requests} --max-seconds 1500 --stop-file {stop} --out {out}")
        result = {}
        try:
            yield result
        finally:
            client.check_output(f"touch {stop}")
            deadline = time.monotonic() + 1560
            while not client.file(out).exists and time.monotonic() < deadline:
                time.sleep(2)
            result.update(json.loads(client.file(out).content_string))
            report(load_summary(name, result))

    return run
