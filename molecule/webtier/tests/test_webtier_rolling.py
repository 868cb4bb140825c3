"""Rolling deploys under load (deploy.yml): drills run in this order after test_webtier.py.

1. A new version of the demo rolls out over web1 then web2 while db1 sends a constant load
   through HAProxy: no request fails, then every backend serves the new release.
2. Rollback (-e rollback=true), the same rolling way: every backend serves the old release.
3. A release whose health check fails: the play stops on web1 (which goes back to the release it
   ran and into rotation), web2 is never touched, and no request fails.
Each drill prints the load generator's counts.
"""
from __future__ import annotations

import re
import shutil
import time

import pytest

from conftest import ROOT, report
from scenario_testing import haproxy_servers

WEB = ("web1", "web2")
DEPLOY = ROOT / "deploy.yml"
BROKEN_CHECK = '''"""A release that must never get traffic: its health check fails (deploy drill)."""


def check():
    raise RuntimeError("this release is broken on purpose")
'''


def _project(tmp_path_factory, version, broken=False):
    """A copy of the demo project with another VERSION (and, broken, a failing health check)."""
    path = tmp_path_factory.mktemp(f"demo-{version}") / "demo"
    shutil.copytree(ROOT / "demo", path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "staticfiles"))
    (path / "VERSION").write_text(version + "\n")
    if broken:
        (path / "notes" / "health.py").write_text(BROKEN_CHECK)
    return path


def _served(http):
    """The release each web host's application answers its health check with, through its nginx."""
    answers = {name: http(f"http://{name}/healthz", {"Host": "localhost"}) for name in WEB}
    assert all(a.get("status") == 200 for a in answers.values()), answers
    return {name: a["headers"]["x-django-deploy-release"] for name, a in answers.items()}


def _links(hosts, name):
    host = hosts[name]
    return tuple(host.run(f"readlink /srv/demo/{link}").stdout.strip().rsplit("/", 1)[-1] for link in ("current", "previous"))


def _gunicorn_pid(hosts, name):
    return hosts[name].check_output("systemctl show -P MainPID gunicorn-demo.service")


def _deploy(playbook, *args):
    start = time.monotonic()
    run = playbook(DEPLOY, *args)
    seconds = time.monotonic() - start
    report(f"deploy.yml {' '.join(args)}: rc {run.returncode} in {seconds:.0f} s")
    print(run.stdout[run.stdout.rfind("PLAY RECAP"):])
    return run


def _assert_no_failure(load, min_total):
    assert load["total"] >= min_total, load
    assert load["failed"] == 0, load["errors"]
    assert set(load["served_by"]) == set(WEB), load["served_by"]


@pytest.fixture(scope="module")
def before(http, hosts):
    """The release every web host runs before the drills (the converged demo)."""
    served = _served(http)
    assert len(set(served.values())) == 1, served
    return next(iter(served.values()))


@pytest.fixture(scope="module")
def new_version(tmp_path_factory):
    return _project(tmp_path_factory, "1.0.1")


def test_rolling_deploy_under_load_loses_no_request(hosts, http, playbook, loadgen, before, new_version):
    with loadgen("deploy") as load:
        run = _deploy(playbook, "-e", f"django_app_source={new_version}")
    assert run.returncode == 0, run.stdout[-3000:]
    _assert_no_failure(load, 2000)
    served = _served(http)
    assert len(set(served.values())) == 1 and served["web1"].startswith("1.0.1-"), served
    assert set(load["versions"]) == {"1.0.0", "1.0.1"}, load["versions"]  # the switch happened under load
    assert haproxy_servers(hosts["lb1"]) == {"web1": "UP", "web2": "UP"}
    for name in WEB:
        assert _links(hosts, name) == (served[name], before)
    # web1 was drained, switched and back UP before web2 was drained.
    drains = [line for line in run.stdout.splitlines() if re.match(r"^(ok|changed): \[web[12] -> lb1", line)]
    assert [line.split("[")[1][:4] for line in drains] == ["web1", "web1", "web2", "web2"], drains


def test_rollback_under_load_goes_back_to_the_previous_release(hosts, http, playbook, loadgen, before):
    new = _served(http)["web1"]
    with loadgen("rollback", min_requests=1000) as load:
        run = _deploy(playbook, "-e", "rollback=true")
    assert run.returncode == 0, run.stdout[-3000:]
    _assert_no_failure(load, 1000)
    assert _served(http) == {"web1": before, "web2": before}
    assert haproxy_servers(hosts["lb1"]) == {"web1": "UP", "web2": "UP"}
    for name in WEB:
        assert _links(hosts, name) == (before, new), "a second rollback would undo the first"


def test_broken_release_stops_on_the_first_host_and_loses_no_request(hosts, http, playbook, loadgen, before,
                                                                       tmp_path_factory):
    broken = _project(tmp_path_factory, "1.0.2", broken=True)
    links = {name: _links(hosts, name) for name in WEB}
    web2_pid = _gunicorn_pid(hosts, "web2")
    with loadgen("broken") as load:
        run = _deploy(playbook, "-e", f"django_app_source={broken}", "-e", "deploy_health_timeout=20")
    assert run.returncode != 0
    # The callback wraps long messages (stderr is folded into stdout by the playbook fixture).
    message = " ".join((run.stdout).split())
    assert re.search(r"1\.0\.2-\w+ failed on web1: .*status 500.*web1 is back on " + re.escape(before), message), \
        message[-3000:]
    _assert_no_failure(load, 2000)
    assert set(load["versions"]) == {"1.0.0"}, load["versions"]  # the broken release never served a page
    # web1 went back to the release it ran (previous unchanged); web2 was never touched.
    assert {name: _links(hosts, name) for name in WEB} == links
    assert _gunicorn_pid(hosts, "web2") == web2_pid
    assert "[web2 -> lb1" not in run.stdout, "web2 was never drained"
    # The release was built everywhere before anything switched.
    assert hosts["web2"].run("ls -d /srv/demo/releases/1.0.2-*").rc == 0
    assert _served(http) == {"web1": before, "web2": before}
    assert haproxy_servers(hosts["lb1"]) == {"web1": "UP", "web2": "UP"}
