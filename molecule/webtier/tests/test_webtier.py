"""The web tier from outside: requests through HAProxy, nginx, gunicorn and the demo project."""
import re
import uuid

import pytest

from conftest import SITE
from scenario_testing import haproxy_servers, post_note, sql

LB = "http://lb1/"
WEB = ("web1", "web2")


def _text(page, element_id):
    match = re.search(rf'id="{element_id}">([^<]*)<', page["body"])
    assert match, f"no #{element_id} in the page"
    return match.group(1)


def test_lb_spreads_twenty_requests_over_both_web_hosts(http):
    served = [http(LB, {"Host": SITE}) for _ in range(20)]
    assert {r.get("status") for r in served} == {200}, served[0]
    by = [r["headers"]["x-served-by"] for r in served]
    assert set(by) == set(WEB) and min(by.count(h) for h in WEB) >= 5, by


def test_haproxy_sees_both_backends_up_through_the_health_check(hosts):
    assert haproxy_servers(hosts["lb1"]) == {"web1": "UP", "web2": "UP"}


def test_admin_socket_is_not_world_accessible(hosts):
    sock = hosts["lb1"].file("/run/haproxy/admin.sock")
    assert sock.is_socket and sock.mode == 0o660 and sock.group == "haproxy"


def test_page_reads_through_the_router_and_caches_a_fragment(http):
    pages = [http(LB, {"Host": SITE}) for _ in range(4)]
    for page in pages:
        assert "Hello from the first migration" in page["body"]  # a row written by the migration
        assert _text(page, "read-from") == "default"  # no replicas: the router reads the primary
        assert _text(page, "write-to") == "default"
        assert _text(page, "version") == "1.0.0"
        assert _text(page, "cache-backend") == "PyMemcacheCache"
    # The fragment was rendered once and served from memcached to both web hosts.
    assert len({_text(p, "fragment-rendered") for p in pages}) == 1
    assert {p["headers"]["x-served-by"] for p in pages} == set(WEB)


def test_form_writes_on_the_primary(http, hosts):
    text = f"note {uuid.uuid4().hex}"
    posted = post_note(http, LB, SITE, text)
    assert posted.get("status") == 302, posted
    count = sql(hosts["db1"], f"SELECT words FROM notes_note WHERE text = '{text}'", db="demo")
    assert count == "2", "the note is in the primary, its words counted by the task"


def test_static_file_is_served_by_nginx_with_long_cache_headers(http, hosts):
    page = http(LB, {"Host": SITE})
    css = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', page["body"]).group(1)
    marker = uuid.uuid4().hex
    static = http(f"http://lb1{css}?{marker}", {"Host": SITE, "Accept-Encoding": "gzip"})
    assert static["status"] == 200
    assert static["headers"]["cache-control"] == "public, max-age=31536000, immutable"
    assert static["headers"]["content-encoding"] == "gzip"
    assert "etag" in static["headers"] and "last-modified" in static["headers"]  # nginx's file headers
    served_by = static["headers"]["x-served-by"]
    log = hosts[served_by].check_output("journalctl -u gunicorn-demo --no-pager -q")
    assert marker not in log, "gunicorn never saw the static request"
    plain = http(f"http://lb1/static/notes/site.css", {"Host": SITE})
    assert plain["headers"]["cache-control"] == "public, max-age=3600"


def test_unknown_host_names_are_refused(http):
    for target in ("http://web1/", LB):
        answer = http(target, {"Host": "evil.example"})
        assert "error" in answer or answer["status"] >= 400, answer


@pytest.mark.parametrize("name", WEB)
def test_gunicorn_workers_equal_the_plan(hosts, plan, name):
    host = hosts[name]
    master = host.check_output("systemctl show -P MainPID gunicorn-demo.service")
    workers = host.check_output(f"pgrep -c -P {master}")
    assert int(workers) == plan[name]["gunicorn"]["workers"]
    conf = host.file("/etc/demo/gunicorn.conf.py")
    assert conf.contains(f"^threads = {plan[name]['gunicorn']['threads']}$")


@pytest.mark.parametrize("name", WEB)
def test_nginx_workers_equal_the_plan(hosts, plan, name):
    conf = hosts[name].file("/etc/nginx/nginx.conf")
    assert conf.contains(f"^worker_processes {plan[name]['nginx']['worker_processes']};$")
    assert conf.contains(f"^    worker_connections {plan[name]['nginx']['worker_connections']};$")


def test_haproxy_limits_follow_the_plan(hosts, plan):
    cfg = hosts["lb1"].file("/etc/haproxy/haproxy.cfg").content_string
    hard = int(hosts["lb1"].check_output("prlimit --pid 1 --nofile --output HARD --noheadings"))
    assert f"    maxconn {min(plan['lb1']['haproxy']['global_maxconn'], (hard - 1000) // 2)}\n" in cfg
    for name in WEB:
        expected = plan["lb1"]["haproxy"]["server_maxconn"][name]
        assert re.search(rf"server {name} \S+:80 check maxconn {expected}$", cfg, re.M)
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


@pytest.mark.parametrize("name", WEB)
def test_release_layout(hosts, name):
    host = hosts[name]
    current = host.file("/srv/demo/current")
    assert current.is_symlink and current.linked_to.startswith("/srv/demo/releases/1.0.0-")
    assert host.file(f"{current.linked_to}/venv/.django_deploy_complete").exists
    env = host.file("/etc/demo/environment")
    assert env.user == "root" and env.mode == 0o600


def test_migrations_ran_on_exactly_one_host(hosts):
    logs = [name for name in WEB if hosts[name].file("/srv/demo/migrations.log").exists]
    assert len(logs) == 1, logs
    applied = hosts["db1"].check_output(
        "runuser -u postgres -- psql -XAtq -d demo -c \"SELECT count(*) FROM django_migrations WHERE app = 'notes'\"")
    assert applied == "1"


def test_check_deploy_reports_no_errors(hosts):
    cmd = hosts["web1"].run("demo-manage check --deploy --fail-level ERROR")
    assert cmd.rc == 0, cmd.stderr


def test_health_endpoint_checks_the_database_and_names_the_release(http, hosts):
    answer = http("http://web1/healthz", {"Host": "localhost"})
    assert answer["status"] == 200 and answer["body"] == "ok\n"
    current = hosts["web1"].file("/srv/demo/current").linked_to.rsplit("/", 1)[-1]
    assert answer["headers"]["x-django-deploy-release"] == current
    assert answer["headers"]["cache-control"] == "no-store"


@pytest.mark.parametrize("name, role, path", [
    ("web1", "nginx", "/etc/nginx/nginx.conf"),
    ("lb1", "haproxy", "/etc/haproxy/haproxy.cfg"),
])
def test_broken_setting_fails_before_the_reload_and_the_site_keeps_answering(hosts, http, playbook, loadgen,
                                                                             name, role, path):
    host = hosts[name]

    def state():
        # The file, the master and its workers: a reload would replace the workers.
        master = host.check_output(f"systemctl show -P MainPID {role}")
        return host.file(path).sha256sum, master, sorted(host.check_output(f"pgrep -P {master}").split())

    before = state()
    with loadgen(f"broken-{role}", min_requests=200) as load:
        run = playbook("broken-config.yml", "-e", f"broken_host={name}", "-e", f"broken_role={role}")
    assert run.returncode != 0
    output = run.stdout
    assert "failed to validate" in output and "bogus" in output, output[-3000:]
    assert re.search(rf"{name} +: .*changed=0 .*failed=1", run.stdout), run.stdout[-1500:]
    assert state() == before, "the file on disk and the running processes are the old ones: no reload happened"
    assert not host.file(path).contains("bogus")
    assert load["total"] >= 200 and load["failed"] == 0, load
    assert {http(LB, {"Host": SITE})["status"] for _ in range(4)} == {200}
