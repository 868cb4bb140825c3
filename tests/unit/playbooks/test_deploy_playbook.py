"""deploy.yml's shape: the order of its steps and the keywords the zero-downtime promise rests on.

molecule/cluster (tests/test_drill_rolling.py) drills the behaviour under load; these checks catch an edit that would break
the promise (a lost serial, a switch before the build, a health wait that only opens a port)
in a second, without hosts.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .test_site_topology import GOOD, SECRETS, _inventory, _run_site

ROOT = Path(__file__).resolve().parents[3]
PLAYS = yaml.safe_load((ROOT / "playbooks" / "deploy.yml").read_text())
HOST_TASKS = yaml.safe_load((ROOT / "playbooks" / "tasks" / "deploy_host.yml").read_text())


def _play(hosts):
    """The first play on these hosts."""
    return next(play for play in PLAYS if play["hosts"] == hosts)


def _tasks(tasks):
    """Every task, blocks and rescues flattened, in order."""
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key, []))


def _tasks_from(tasks):
    return [t["ansible.builtin.include_role"].get("tasks_from", "main.yml") for t in _tasks(tasks)
            if "ansible.builtin.include_role" in t]


def test_plays_run_build_then_web_one_by_one_then_workers_then_beat_then_cleanup():
    hosts = [play["hosts"] for play in PLAYS]
    assert hosts == ["all", "webservers:celery_workers:celery_beat", "webservers",
                     "celery_workers:!celery_beat", "celery_beat", "webservers:celery_workers:celery_beat"]
    assert _tasks_from(PLAYS[-1]["tasks"]) == ["cleanup.yml"]


def test_build_and_migrate_happen_on_every_app_host_before_any_switch():
    build = _play("webservers:celery_workers:celery_beat")
    assert build["any_errors_fatal"] is True
    assert _tasks_from(build["tasks"]) == ["build.yml", "migrate.yml", "previous.yml"]
    assert "serial" not in build, "run_once (migrate) runs once per batch in a serial play"


def test_web_hosts_switch_one_at_a_time_and_a_failure_stops_the_rollout():
    web = _play("webservers")
    assert web["serial"] == 1 and web["max_fail_percentage"] == 0
    names = [next(k for k in t if k.startswith(("ansible.", "django_deploy."))) for t in _tasks(web["tasks"])
             if "block" not in t]
    drain, include = names.index("django_deploy.stack.haproxy_server"), names.index("ansible.builtin.include_tasks")
    assert drain < include, "drained before anything changes on the host"
    [first_drain] = [t for t in _tasks(web["tasks"]) if t.get("django_deploy.stack.haproxy_server", {}).get("state") == "drain"]
    assert first_drain["django_deploy.stack.haproxy_server"]["require_other_up"] is True
    back, stop = web["tasks"][-2:]
    assert back["django_deploy.stack.haproxy_server"]["state"] == "ready" and "wait_timeout" in back["django_deploy.stack.haproxy_server"]
    assert "ansible.builtin.fail" in stop and stop["when"] == "_deploy_failure is defined", \
        "a failed host goes back into rotation, then stops the rollout"


def test_each_host_is_switched_by_the_roles_and_waits_for_its_release_through_nginx():
    assert _tasks_from(HOST_TASKS) == ["switch.yml", "main.yml", "main.yml", "healthy.yml"]
    roles = [t["ansible.builtin.include_role"]["name"] for t in HOST_TASKS if "ansible.builtin.include_role" in t]
    assert roles == ["django_deploy.stack.django_app", "django_deploy.stack.gunicorn", "django_deploy.stack.mod_wsgi",
                     "django_deploy.stack.nginx"]
    flush = next(i for i, t in enumerate(HOST_TASKS) if t.get("ansible.builtin.meta") == "flush_handlers")
    assert flush == len(HOST_TASKS) - 2, "the app server restarts before the health wait"
    assert "django_app_target_release" in HOST_TASKS[-1]["vars"]["nginx_expected_release"]
    healthy = yaml.safe_load((ROOT / "roles" / "nginx" / "tasks" / "healthy.yml").read_text())
    uri = healthy[0]
    assert "127.0.0.1" in uri["ansible.builtin.uri"]["url"] and "nginx_listen_port" in uri["ansible.builtin.uri"]["url"]
    healthy_vars = yaml.safe_load((ROOT / "roles" / "nginx" / "vars" / "main.yml").read_text())["__nginx_healthy"]
    assert "x_django_deploy_release" in healthy_vars and "status" in healthy_vars, "the port being open is not enough"


def test_celery_restarts_through_its_role_after_the_switch():
    for hosts in ("celery_workers:!celery_beat", "celery_beat"):
        play = _play(hosts)
        assert [t["ansible.builtin.include_role"]["name"] for t in play["tasks"]] == [
            "django_deploy.stack.django_app", "django_deploy.stack.celery"]
        assert _tasks_from(play["tasks"]) == ["switch.yml", "main.yml"]


@pytest.mark.parametrize("playbook", ["deploy.yml"])
def test_bad_topology_is_refused_before_any_host_is_contacted(tmp_path, playbook):
    result = _run_site(tmp_path, _inventory({**GOOD, "db_primary": []}, SECRETS), playbook)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "group db_primary has no host" in out and "UNREACHABLE" not in out
