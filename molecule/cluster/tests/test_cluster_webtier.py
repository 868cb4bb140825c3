"""The web tier in detail, on the hosts site.yml converged (formerly the webtier scenario).

Runs right after test_cluster.py, before any drill: the converged demo (release 1.0.0) as
site.yml left it. Requests come from db1, through HAProxy on lb1 (port 80) or straight to a web
host's nginx on the cluster's nginx port (PORTS). test_cluster.py already proves the replica
read, the fragment cached on cache1, the Celery task and gunicorn's workers; here: HAProxy's
balance, health checks, admin socket and limits, nginx's refusals, gzip and cache headers, the
sandbox of gunicorn, the release layout on every app host, migrations run once, the health
endpoint. The drills that change the served release are in test_drill_rolling.py.
"""
import re
import uuid

import pytest

from conftest import APP_HOSTS, LB, PORTS, SITE, WEB, eventually, page, post_note, sql, text, web_url
from scenario_testing import haproxy_servers


def test_lb_spreads_twenty_requests_over_both_web_hosts(http):
    served = [page(http) for request in range(20)]
    assert {r.get("status") for r in served} == {200}, served[0]
    by = [r["headers"]["x-served-by"] for r in served]
    assert set(by) == set(WEB) and min(by.count(h) for h in WEB) >= 5, by


def test_haproxy_sees_both_backends_up_through_the_health_check(hosts):
    assert haproxy_servers(hosts["lb1"]) == {"web1": "UP", "web2": "UP"}


def test_admin_socket_is_not_world_accessible(hosts):
    sock = hosts["lb1"].file("/run/haproxy/admin.sock")
    assert sock.is_socket and sock.mode == 0o660 and sock.group == "haproxy"


def test_page_names_the_release_and_the_databases_the_router_chose(http):
    # The fragment cached once for both web hosts: test_cluster.py (with memcached's own counters).
    for answer in [page(http) for request in range(4)]:
        assert "Hello from the first migration" in answer["body"]  # a row written by the migration
        assert text(answer, "read-from") == "replica1"  # the cluster has a replica, db2: reads go there
        assert text(answer, "write-to") == "default"
        assert text(answer, "version") == "1.0.0"
        assert text(answer, "cache-backend") == "PyMemcacheCache"


def test_form_writes_on_the_primary(http, hosts):
    note = f"note {uuid.uuid4().hex}"
    posted = post_note(http, LB, SITE, note)
    assert posted.get("status") == 302, posted
    db1 = hosts["db1"]
    # The view writes the note on the primary before it answers; the Celery worker on worker1
    # counts its words a moment later (synchronously in a topology without a broker).
    assert sql(db1, f"SELECT count(*) FROM notes_note WHERE text = '{note}'", db="demo") == "1"
    words = eventually(lambda: sql(db1, f"SELECT words FROM notes_note WHERE text = '{note}'", db="demo"),
                       timeout=90, interval=2)
    assert words == "2", "the note is in the primary, its words counted by the task"


def test_static_file_is_served_by_nginx_with_gzip_and_cache_headers(http, hosts):
    css = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', page(http)["body"]).group(1)
    marker = uuid.uuid4().hex
    static = page(http, f"{css}?{marker}", {"Accept-Encoding": "gzip"})
    assert static["status"] == 200
    assert static["headers"]["cache-control"] == "public, max-age=31536000, immutable"
    assert static["headers"]["content-encoding"] == "gzip"
    assert "etag" in static["headers"] and "last-modified" in static["headers"]  # nginx's file headers
    served_by = static["headers"]["x-served-by"]
    log = hosts[served_by].check_output("journalctl -u gunicorn-demo --no-pager -q")
    assert marker not in log, "gunicorn never saw the static request"
    plain = page(http, "/static/notes/site.css")
    assert plain["headers"]["cache-control"] == "public, max-age=3600"


def test_unknown_host_names_are_refused(http):
    # The control: web1's nginx does answer on the cluster's port (from lb1, the one host its
    # firewall lets in), so a refusal below is its own (it closes the connection, 444), not a
    # port nothing listens on.
    assert http(web_url("web1"), {"Host": SITE}, client="lb1").get("status") == 200
    for target in (web_url("web1"), LB):
        answer = http(target, {"Host": "evil.example"}, client="lb1")
        assert "error" in answer or answer["status"] >= 400, answer
        assert "refused" not in answer.get("error", "").lower(), answer


@pytest.mark.parametrize("name", WEB)
def test_nginx_workers_equal_the_plan(hosts, cluster_plan, name):
    plan = cluster_plan["hosts"]
    conf = hosts[name].file("/etc/nginx/nginx.conf")
    assert conf.contains(f"^worker_processes {plan[name]['nginx']['worker_processes']};$")
    assert conf.contains(f"^    worker_connections {plan[name]['nginx']['worker_connections']};$")


def test_haproxy_limits_follow_the_plan(hosts, cluster_plan):
    plan = cluster_plan["hosts"]
    cfg = hosts["lb1"].file("/etc/haproxy/haproxy.cfg").content_string
    hard = int(hosts["lb1"].check_output("prlimit --pid 1 --nofile --output HARD --noheadings"))
    assert f"    maxconn {min(plan['lb1']['haproxy']['global_maxconn'], (hard - 1000) // 2)}\n" in cfg
    for name in WEB:
        expected = plan["lb1"]["haproxy"]["server_maxconn"][name]
        # The backends on the cluster's nginx port (test_ports.py proves nothing listens on 80).
        assert re.search(rf"server {name} \S+:{PORTS['nginx'][0]} check maxconn {expected}$", cfg, re.M), cfg
        assert expected == plan[name]["gunicorn"]["concurrency"]


@pytest.mark.parametrize("name", WEB)
def test_gunicorn_runs_sandboxed_behind_its_socket(hosts, name):
    host = hosts[name]
    props = host.check_output("systemctl show gunicorn-demo.service -p User -p NoNewPrivileges -p ProtectSystem"
                              " -p PrivateTmp -p Type")
    assert set(props.splitlines()) >= {"User=demo", "NoNewPrivileges=yes", "ProtectSystem=strict",
                                       "PrivateTmp=yes", "Type=notify"}
    assert host.service("gunicorn-demo.socket").is_enabled
    sock = host.file("/run/gunicorn-demo.sock")
    assert sock.is_socket and sock.mode == 0o660 and sock.group == "www-data"


@pytest.mark.parametrize("name", APP_HOSTS)
def test_release_layout(hosts, name):
    host = hosts[name]
    current = host.file("/srv/demo/current")
    assert current.is_symlink and current.linked_to.startswith("/srv/demo/releases/1.0.0-")
    assert host.file(f"{current.linked_to}/venv/.django_deploy_complete").exists
    env = host.file("/etc/demo/environment")
    assert env.user == "root" and env.mode == 0o600


def test_migrations_ran_on_exactly_one_host(hosts):
    # One app host of the play, whichever: the web servers and the Celery host share the release.
    logs = [name for name in APP_HOSTS if hosts[name].file("/srv/demo/migrations.log").exists]
    assert len(logs) == 1, logs
    applied = sql(hosts["db1"], "SELECT count(*) FROM django_migrations WHERE app = 'notes'", db="demo")
    assert applied == "1"


def test_check_deploy_reports_no_errors(hosts):
    cmd = hosts["web1"].run("demo-manage check --deploy --fail-level ERROR")
    assert cmd.rc == 0, cmd.stderr


def test_health_endpoint_checks_the_database_and_names_the_release(http, hosts):
    answer = http(web_url("web1", "/healthz"), {"Host": "localhost"}, client="lb1")
    assert answer["status"] == 200 and answer["body"] == "ok\n"
    current = hosts["web1"].file("/srv/demo/current").linked_to.rsplit("/", 1)[-1]
    assert answer["headers"]["x-django-deploy-release"] == current
    assert answer["headers"]["cache-control"] == "no-store"
