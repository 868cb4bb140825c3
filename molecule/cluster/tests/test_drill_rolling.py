"""Rolling deploys under load (deploy.yml) on the cluster (formerly the webtier scenario's drills).

They run after the restart drill, on the release site.yml converged (1.0.0), and before the
secrets drill, which rotates the secrets of the inventory these runs use; they leave 1.0.0
served everywhere (the rollback, then the broken release that never switches), which is what
site.yml there converges to. In this order:
1. A new version of the demo rolls out over web1 then web2 while db1 sends a constant load
   through HAProxy: no request fails, then every backend serves the new release. deploy.yml also
   switches the Celery host worker1 (after the web servers) and touches no other tier.
2. Rollback (-e rollback=true), the same rolling way: every backend, and worker1, runs the old
   release again.
3. A release whose health check fails: the play stops on web1 (which goes back to the release it
   ran and into rotation), web2 and worker1 are never switched, and no request fails.
Each drill prints the load generator's counts.
"""
from __future__ import annotations

import re
import shutil
import time

import pytest

from conftest import APP_HOSTS, DEPLOY_PLAYBOOK, HOST_NAMES, ROOT, WEB, report, web_url
from scenario_testing import haproxy_servers, recap

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
    """The release each web host's application answers its health check with, through its nginx
    (on the cluster's nginx port), asked from lb1, which the web hosts' firewalls let in."""
    answers = {name: http(web_url(name, "/healthz"), {"Host": "localhost"}, client="lb1") for name in WEB}
    assert all(a.get("status") == 200 for a in answers.values()), answers
    return {name: a["headers"]["x-django-deploy-release"] for name, a in answers.items()}


def _links(hosts, name):
    host = hosts[name]
    return tuple(host.run(f"readlink /srv/demo/{link}").stdout.strip().rsplit("/", 1)[-1] for link in ("current", "previous"))


def _gunicorn_pid(hosts, name):
    return hosts[name].check_output("systemctl show -P MainPID gunicorn-demo.service")


def _deploy(playbook, *args):
    start = time.monotonic()
    run = playbook(DEPLOY_PLAYBOOK, *args)
    seconds = time.monotonic() - start
    report(f"deploy.yml {' '.join(args)}: rc {run.returncode} in {seconds:.0f} s")
    print(run.stdout[run.stdout.rfind("PLAY RECAP"):])
    return run


def _assert_no_failure(load, min_total):
    assert load["total"] >= min_total, load
    assert load["failed"] == 0, load["errors"]
    assert set(load["served_by"]) == set(WEB), load["served_by"]


def _assert_only_app_hosts_changed(run):
    """Code only: the app hosts change (worker1 among them), no other tier does (memcached and
    RabbitMQ are never touched; lb1's drains are the web hosts' delegated tasks)."""
    counts = recap(run.stdout)
    assert set(counts) == set(HOST_NAMES), run.stdout[-3000:]
    assert counts["worker1"]["changed"] > 0 and counts["worker1"]["failed"] == 0, counts["worker1"]
    others = {name: row["changed"] for name, row in counts.items() if name not in APP_HOSTS}
    assert others == {name: 0 for name in others}, others


@pytest.fixture(scope="module")
def before(http, hosts):
    """The release every web host runs before the drills (the converged demo), worker1 too."""
    served = _served(http)
    assert len(set(served.values())) == 1, served
    release = next(iter(served.values()))
    assert _links(hosts, "worker1")[0] == release, "worker1 runs the release the web hosts serve"
    return release


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
    # The Celery host runs the new release too (switched after the web servers).
    assert _links(hosts, "worker1") == (served["web1"], before)
    _assert_only_app_hosts_changed(run)
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
    for name in APP_HOSTS:
        assert _links(hosts, name) == (before, new), f"{name}: a second rollback would undo the first"


def test_broken_release_stops_on_the_first_host_and_loses_no_request(hosts, http, playbook, loadgen, before,
                                                                     tmp_path_factory):
    broken = _project(tmp_path_factory, "1.0.2", broken=True)
    links = {name: _links(hosts, name) for name in APP_HOSTS}
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
    # web1 went back to the release it ran (previous unchanged); web2 was never touched, and the
    # play stopped there: the Celery host worker1 was never switched either.
    assert {name: _links(hosts, name) for name in APP_HOSTS} == links
    assert _gunicorn_pid(hosts, "web2") == web2_pid
    assert "[web2 -> lb1" not in run.stdout, "web2 was never drained"
    # The release was built on every app host before anything switched.
    for name in ("web2", "worker1"):
        assert hosts[name].run("ls -d /srv/demo/releases/1.0.2-*").rc == 0, f"{name} built the release"
    assert _served(http) == {"web1": before, "web2": before}
    assert haproxy_servers(hosts["lb1"]) == {"web1": "UP", "web2": "UP"}
