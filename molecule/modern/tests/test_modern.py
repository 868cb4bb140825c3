"""tests/projects/modern, deployed unedited: a project as today's production templates write it
(django-environ settings, Celery with the database beat scheduler, WhiteNoise, Redis, its own
gunicorn and psycopg[c] pins), served through HAProxy, with Redis as its cache, broker and results."""
from __future__ import annotations

import json
import re
import shutil
import uuid

import pytest
from scenario_testing import ROOT, eventually, private_address, recap
from testinfra.utils.ansible_runner import AnsibleRunner

PROJECT = ROOT / "tests" / "projects" / "modern"
DEPLOY = ROOT / "deploy.yml"

SITE = {"Host": "modern.example.test"}
# HTTPS (tls_mode acme, pebble's certificate): the name resolves to the client's own HAProxy (conftest.py).
SITE_URL = "https://modern.example.test"
MANAGE = "/usr/local/sbin/modern-manage"


@pytest.fixture(scope="module")
def shell(hosts):
    """The last line Python printed in `modern-manage shell` on app1 (deployed settings, app account)."""
    def run(code: str) -> str:
        out = hosts["app1"].check_output(f"{MANAGE} shell -c %s", code).strip()
        return out.splitlines()[-1] if out else ""
    return run


def test_home_page_through_the_load_balancer(http):
    page = http(f"{SITE_URL}/", SITE)
    assert page["status"] == 200, page
    assert page["headers"]["x-served-by"] == "app1"
    assert re.search(r'href="/static/modern/site\.[0-9a-f]{12}\.css"', page["body"]), page["body"][:500]


def test_static_files_come_from_nginx_not_whitenoise(http, hosts):
    css = re.search(r'href="(/static/modern/site\.[0-9a-f]{12}\.css)"', http(f"{SITE_URL}/", SITE)["body"]).group(1)
    marker = uuid.uuid4().hex
    answer = http(f"{SITE_URL}{css}?{marker}", SITE)
    assert answer["status"] == 200 and "text/css" in answer["headers"]["content-type"], answer
    assert answer["headers"]["cache-control"] == "public, max-age=31536000, immutable"
    assert "etag" in answer["headers"] and "last-modified" in answer["headers"], "nginx's file headers"
    log = hosts["app1"].check_output("journalctl -q -o cat -u gunicorn-modern.service --since -10min")
    assert marker not in log, "gunicorn (WhiteNoise) saw a static request"


def test_the_projects_own_pins_won_and_its_c_extension_was_built_on_the_host(hosts):
    venv = "/srv/modern/current/venv/bin/python"
    app1 = hosts["app1"]
    versions = app1.check_output(
        f"{venv} -c %s", "import gunicorn, psycopg, django; print(gunicorn.__version__, psycopg.__version__, "
                         "django.__version__, psycopg.pq.__impl__)")
    assert versions.split() == ["23.0.0", "3.2.13", versions.split()[2], "c"], versions
    assert versions.split()[2].startswith("6.0."), versions
    # Built on the host for its own Python: no binary psycopg beside it.
    assert app1.run(f"{venv} -c 'import psycopg_binary'").rc != 0


def test_check_deploy_passes_with_no_security_warning(hosts):
    result = hosts["app1"].run(f"{MANAGE} check --deploy")
    assert result.rc == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr, result.stdout + result.stderr


def test_a_tasks_result_is_read_back_from_redis(shell):
    """The project sets CELERY_RESULT_BACKEND to its broker URL, as the template does: the stack
    points it at Redis's results database."""
    code = ("from django.conf import settings; from modern.tasks import add; "
            "print(settings.CELERY_RESULT_BACKEND.rsplit('/', 1)[-1], add.delay(2, 3).get(timeout=60))")
    assert shell(code) == "2 5"


def test_beat_schedules_from_the_database(shell):
    """The project's data migration stores a periodic task every 10 s; beat (DatabaseScheduler)
    sends it, a worker writes a Heartbeat row."""
    count = "from modern.models import Heartbeat; print(Heartbeat.objects.filter(source='beat').count())"
    before = int(shell(count))
    assert eventually(lambda: int(shell(count)) >= before + 2, timeout=45, interval=3), "two heartbeats in 45 s"


def test_the_cache_is_redis_written_to_the_primary_and_read_from_the_replica(shell, hosts, inventory):
    """Django's RedisCache writes to the first server of LOCATION, the primary (the first host of
    group redis in inventory order), and reads from the others, its replicas."""
    variables = AnsibleRunner(inventory).get_variables("app1")
    primary, replica = variables["groups"]["redis"]
    key = f"probe-{uuid.uuid4().hex[:8]}"
    locations = shell("from django.conf import settings; print(' '.join(l.rsplit('@', 1)[-1] "
                      "for l in settings.CACHES['default']['LOCATION']))")
    assert locations == f"{private_address(hosts[primary])}:6379/0 {private_address(hosts[replica])}:6379/0"
    shell(f"from django.core.cache import caches; caches['default'].set({key!r}, 'v', 60)")
    read = f"from django.core.cache import caches; print(type(caches['default']).__name__, caches['default'].get({key!r}))"
    assert eventually(lambda: shell(read) == "RedisCache v", timeout=10)
    replication = hosts[replica].check_output("printf %s | redis-cli", f"AUTH {variables['redis_password']}\nINFO replication\n")
    assert "role:slave" in replication and "master_link_status:up" in replication, replication
    assert f"replicaof {private_address(hosts[primary])} 6379" in hosts[replica].file("/etc/redis/redis.conf").content_string


def test_redis_is_private_with_a_password_and_sized_as_a_broker(hosts, cluster_plan):
    db1 = hosts["db1"]
    address = private_address(db1)
    assert db1.socket(f"tcp://{address}:6379").is_listening
    assert db1.socket("tcp://127.0.0.1:6379").is_listening
    assert not db1.socket("tcp://0.0.0.0:6379").is_listening
    # From an app host without the password: refused by Redis. From the load balancer, which
    # uses no Redis: not even a connection (the firewall drops it).
    ping = "import socket; s = socket.create_connection(('%s', 6379), 5); s.sendall(b'PING\\r\\n'); print(s.recv(100).decode())"
    answer = hosts["app1"].run("python3 -c %s", ping % address)
    assert "NOAUTH" in answer.stdout, answer.stdout + answer.stderr
    outside = hosts["lb1"].run("python3 -c %s", ping % address)
    assert outside.rc != 0 and "timed out" in outside.stderr, outside.stdout + outside.stderr
    config = db1.file("/etc/redis/redis.conf").content_string
    plan = cluster_plan["hosts"]["db1"]["redis"]
    assert f"maxmemory {plan['maxmemory_mb']}mb" in config and "appendonly yes" in config
    assert "maxmemory-policy volatile-lru" in config
    assert "requirepass" not in config, "the password lives in its own file"
    auth = db1.file("/etc/redis/redis-auth.conf")
    assert auth.mode == 0o640 and auth.user == "root" and auth.group == "redis"
    assert db1.service("redis-server").is_running and db1.service("redis-server").is_enabled


def _release(http) -> str:
    answer = http(f"{SITE_URL}/healthz", SITE)
    assert answer.get("status") == 200, answer
    return answer["headers"]["x-django-deploy-release"]


def _copy(tmp_path, name):
    """A copy of the project to change, deployed with -e django_app_source=<copy>."""
    copy = tmp_path / name
    shutil.copytree(PROJECT, copy)
    return copy


def _deploy(playbook, source):
    return playbook(DEPLOY, "-e", json.dumps({"django_app_source": str(source)}), timeout=1200)


def test_ssh_sources_that_leave_ansible_out_are_refused_before_any_firewall_changes(playbook, hosts):
    """These hosts are reached over SSH: sources without the controller's address would refuse
    Ansible's next connection. site.yml stops, naming the variable, before applying any rule."""
    rules = "nft list table inet django_deploy"
    before = {name: hosts[name].check_output(rules) for name in ("db1", "app1", "lb1")}
    run = playbook("converge.yml", "--tags", "firewall", "-e", json.dumps({"firewall_ssh_sources": ["192.0.2.1/32"]}),
                   timeout=900)
    assert run.returncode != 0
    # The callback folds long messages: compare with the whitespace collapsed.
    assert "which firewall_ssh_sources (192.0.2.1/32) leaves out" in " ".join(run.stdout.split()), run.stdout[-3000:]
    assert {name: hosts[name].check_output(rules) for name in before} == before


def test_check_mode_on_a_new_release_predicts_it_and_changes_nothing(playbook, hosts, http, tmp_path):
    """site.yml --check with changed code: the release, its build and its switch are predicted as
    changes; nothing is unpacked, built or switched on the hosts."""
    app1 = hosts["app1"]
    releases = app1.check_output("ls /srv/modern/releases")
    current = _release(http)
    source = _copy(tmp_path, "checked")
    (source / "modern" / "checked.py").write_text("CHECKED = True\n")
    run = playbook("converge.yml", "--check", "-e", json.dumps({"django_app_source": str(source)}), timeout=900)
    assert run.returncode == 0, run.stdout[-3000:]
    assert recap(run.stdout)["app1"]["changed"] > 0
    assert "would be built on app1" in run.stdout
    assert app1.check_output("ls /srv/modern/releases") == releases
    assert _release(http) == current


def test_a_requirements_change_is_a_new_release_rolled_out(playbook, hosts, http, tmp_path):
    """The same files with one more requirement: a new release, with a virtualenv of its own that
    has it, serving through the load balancer; the project's files alone did not change."""
    before = _release(http)
    source = _copy(tmp_path, "modern")
    with (source / "requirements" / "base.txt").open("a") as handle:
        handle.write("six==1.17.0\n")
    run = _deploy(playbook, source)
    assert run.returncode == 0, run.stdout[-3000:]
    after = _release(http)
    assert after != before
    app1 = hosts["app1"]
    assert app1.check_output("readlink -f /srv/modern/current").endswith("/" + after)
    assert app1.run("/srv/modern/current/venv/bin/python -c 'import six'").rc == 0
    assert app1.run(f"/srv/modern/releases/{before}/venv/bin/python -c 'import six'").rc != 0
    # Only the app host changed: the database, Redis and the load balancer's configuration did not.
    assert recap(run.stdout)["db1"]["changed"] == 0


def test_a_broken_task_module_fails_the_deploy_naming_the_host_and_the_workers_keep_running(playbook, hosts, tmp_path):
    """A release whose task module cannot be imported passes Django's checks (they do not import
    tasks), but no worker can start on it: deploy.yml fails on app1 with the import error, at the
    load check before any unit restarts, so the workers keep running the release they ran.
    Deploying the good project again mends it."""
    worker = "celery-modern-worker-default.service"
    app1 = hosts["app1"]
    pid = app1.check_output(f"systemctl show -P MainPID {worker}")
    source = _copy(tmp_path, "broken")
    tasks = source / "modern" / "tasks.py"
    tasks.write_text("import modern_no_such_module  # noqa: F401\n" + tasks.read_text())
    run = _deploy(playbook, source)
    assert run.returncode != 0 and recap(run.stdout)["app1"]["failed"] == 1, run.stdout[-3000:]
    assert "fatal: [app1]" in run.stdout and "the load check of the Celery application" in run.stdout
    assert "No module named 'modern_no_such_module'" in run.stdout
    assert app1.service(worker).is_running and app1.check_output(f"systemctl show -P MainPID {worker}") == pid
    mended = _deploy(playbook, PROJECT)
    assert mended.returncode == 0, mended.stdout[-3000:]
    assert app1.service(worker).is_running
