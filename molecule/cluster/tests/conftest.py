"""The cluster scenario's fixtures and helpers: the shared ones (molecule/shared/scenario_testing.py),
an HTTP client inside db1, the demo page through lb1, as a visitor uses it, each web host's own
nginx (on the cluster's nginx port), and the load generator (tools/loadgen.py) the web-tier
drills run on db1 against lb1."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import (  # noqa: E402,F401  (fixtures and the hook are registered by importing them here)
    ROOT, cluster_plan, eventually, hosts, http_fixture, inventory, loadgen_fixture, playbook, post_note,
    pytest_terminal_summary, report, sql)

SITE = "demo.example.test"
# molecule.yml moves every public port off its default; the default each replaces.
PORTS = {"postgresql": (5433, 5432), "memcached": (11311, 11211), "rabbitmq": (5673, 5672), "nginx": (8088, 80),
         "pgbouncer": (6433, 6432)}
# HAProxy's frontend keeps its default port (80): visitors' URLs do not change.
LB = "http://lb1/"
WEB = ("web1", "web2")
# The hosts a release is built on and switched by deploy.yml: the web servers and the Celery host.
APP_HOSTS = (*WEB, "worker1")
HOST_NAMES = ("lb1", "web1", "web2", "db1", "db2", "cache1", "mq1", "worker1")
SITE_PLAYBOOK = ROOT / "site.yml"
DEPLOY_PLAYBOOK = ROOT / "deploy.yml"
WORKER_UNIT = "celery-demo-worker-default.service"
# What a Celery run of notes.tasks.count_words logs when it is done (it returns the note's id).
TASK_DONE = r"Task notes\.tasks\.count_words\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: {pk}$"

# db1 is outside the web tier: its requests to lb1 cross the network as a visitor's do.
http = http_fixture(client="db1")


def page(http, path: str = "", headers: dict | None = None, data: str = "") -> dict:
    """The demo site through the load balancer, under the name it serves."""
    return http(LB + path.lstrip("/"), {"Host": SITE, **(headers or {})}, data)


def web_url(name: str, path: str = "/") -> str:
    """A URL of the nginx on one web host, bypassing lb1: on the cluster's nginx port, not 80."""
    return f"http://{name}:{PORTS['nginx'][0]}/{path.lstrip('/')}"


def text(answer: dict, element_id: str) -> str:
    """The text of the page's element with this id."""
    match = re.search(rf'id="{element_id}">([^<]*)<', answer["body"])
    assert match, f"no #{element_id} in the page: {answer}"
    return match.group(1)


def note_is_counted(http, hosts, note: str, timeout: float = 90, post_for: float = 0) -> str:
    """Post `note` through lb1 and wait until the page, which reads from the replica, shows the
    word count the Celery worker stored; then the worker's journal must show the task. Returns ""
    on success, else what was missing.

    post_for: seconds to keep posting while the site refuses the note (the broker still booting
    after a restart answers 500); each attempt has its own text, as a refused one may be stored."""
    start = time.time()
    deadline = time.monotonic() + post_for
    attempt = 0
    while True:
        attempt += 1
        text = f"{note}-{attempt}"
        posted = post_note(http, LB, SITE, text)
        if posted.get("status") == 302:
            break
        if time.monotonic() >= deadline:
            return f"the POST was not accepted: {posted}"
        time.sleep(2)
    shown = f"<li>{text} ({len(text.split())} words)</li>"
    if not eventually(lambda: shown in page(http).get("body", ""), timeout=timeout, interval=2):
        return f"{shown} never appeared on the page read from the replica"
    pk = sql(hosts["db1"], f"SELECT id FROM notes_note WHERE text = '{text}'", db="demo")
    log = hosts["worker1"].check_output(f"journalctl -q -o cat -u {WORKER_UNIT} --since @{start - 5:.0f}")
    if not re.search(TASK_DONE.format(pk=pk), log, re.M):
        return f"worker1 did not log count_words for note {pk}: {log[-2000:]}"
    return ""


# The load generator (tools/loadgen.py) the web-tier drills run on db1 against the page and its
# stylesheet through lb1.
loadgen = loadgen_fixture(client="db1", url=LB, site=SITE)


def pooler_console(host, command: str) -> list[dict]:
    """A command of the PgBouncer console on a database host (postgres by peer on the local socket),
    as one mapping per row, by column name."""
    out = host.check_output("runuser -u postgres -- psql -h /var/run/postgresql -p %s -d pgbouncer -XAF '|' -c %s",
                            str(PORTS["pgbouncer"][0]), command)
    lines = [line for line in out.splitlines() if line and not line.startswith("(")]
    names = lines[0].split("|")
    return [dict(zip(names, line.split("|"))) for line in lines[1:]]
