"""The mod_wsgi web tier from outside: requests through nginx to Apache + mod_wsgi (daemon mode)."""
import re
import uuid

from conftest import SITE

WEB = "http://web1/"
SITE_CONF = "/etc/apache2/sites-available/demo-wsgi.conf"
TUNING_CONF = "/etc/apache2/conf-available/django-deploy-tuning.conf"


def _text(page, element_id):
    match = re.search(rf'id="{element_id}">([^<]*)<', page["body"])
    assert match, f"no #{element_id} in the page"
    return match.group(1)


def _graceful_restarts(host):
    return host.check_output("grep -c 'Doing graceful restart' /var/log/apache2/error.log || true")


def test_demo_page_answers_through_nginx_from_mod_wsgi(http, hosts):
    marker = uuid.uuid4().hex
    page = http(f"{WEB}?{marker}", {"Host": SITE})
    assert page.get("status") == 200, page
    assert page["headers"]["x-served-by"] == "web1"  # nginx's header
    assert "Hello from the first migration" in page["body"]  # read from PostgreSQL on db1
    assert _text(page, "version") == "1.0.0"
    # Apache answered it: its access log on the loopback has the request, and no gunicorn exists.
    assert marker in hosts["web1"].check_output("cat /var/log/apache2/demo-access.log")
    assert not hosts["web1"].file("/etc/systemd/system/gunicorn-demo.service").exists


def test_static_file_is_served_by_nginx_not_apache(http, hosts):
    page = http(WEB, {"Host": SITE})
    css = re.search(r'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', page["body"]).group(1)
    marker = uuid.uuid4().hex
    static = http(f"http://web1{css}?{marker}", {"Host": SITE})
    assert static["status"] == 200
    assert static["headers"]["cache-control"] == "public, max-age=31536000, immutable"
    assert marker not in hosts["web1"].check_output("cat /var/log/apache2/demo-access.log")


def test_daemon_mode_with_the_planned_process_count(hosts, plan):
    host = hosts["web1"]
    daemon = plan["web1"]["mod_wsgi"]
    # display-name=%{GROUP}: each daemon process is titled (wsgi:demo), runs as the app account.
    procs = host.check_output("ps -eo user:20,args --no-headers | grep '[(]wsgi:demo)' || true").splitlines()
    assert len(procs) == daemon["processes"], procs
    assert all(p.split()[0] == "demo" for p in procs), procs
    conf = host.file(SITE_CONF)
    assert conf.contains("^WSGIRestrictEmbedded On$")
    assert conf.contains(f"processes={daemon['processes']} threads={daemon['threads']} ")
    assert conf.contains("WSGIApplicationGroup %{GLOBAL}")
    current = host.file("/srv/demo/current").linked_to
    assert conf.contains(f"python-home={current}/venv ")
    assert conf.contains(f"python-path={current}:/etc/demo/python ")


def test_secret_key_reaches_the_daemon_processes(hosts):
    host = hosts["web1"]
    pid = host.check_output("pgrep -f -o '^[(]wsgi:demo[)]'")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    expected = host.check_output("sed -n \"s/^DJANGO_SECRET_KEY='\\(.*\\)'$/\\1/p\" /etc/demo/environment")
    assert expected and f"DJANGO_SECRET_KEY={expected}" in environ.splitlines()
    assert "DJANGO_SETTINGS_MODULE=django_deploy_settings" in environ.splitlines()


def test_the_planned_mpm_is_loaded_with_the_planned_limits(hosts, plan):
    host = hosts["web1"]
    mpm = plan["web1"]["apache_mpm"]
    modules = host.check_output("apachectl -M 2>/dev/null")
    assert f"mpm_{mpm['mpm']}_module" in modules
    assert [m for m in modules.split() if m.startswith("mpm_")] == [f"mpm_{mpm['mpm']}_module"]
    assert "wsgi_module" in modules
    conf = host.file(TUNING_CONF)
    assert host.file(f"/etc/apache2/conf-enabled/django-deploy-tuning.conf").is_symlink
    for name, value in mpm.items():
        if name in ("mpm", "KeepAlive", "KeepAliveTimeout", "MaxKeepAliveRequests"):
            assert name == "mpm" or conf.contains(f"^{name} {value}$"), name
        else:
            assert conf.contains(f"^    {name} {value}$"), name
    assert conf.contains(f"^<IfModule mpm_{mpm['mpm']}_module>$")


def test_apache_listens_only_on_the_loopback_port(hosts):
    host = hosts["web1"]
    listening = host.check_output("ss -Hltnp | grep apache2 || true").splitlines()
    assert listening and all(line.split()[3] == "127.0.0.1:8091" for line in listening), listening
    assert host.socket("tcp://0.0.0.0:80").is_listening  # nginx
    assert not host.file("/etc/apache2/sites-enabled/000-default.conf").exists


def test_apache_is_not_reachable_from_other_hosts(http):
    answer = http("http://web1:8091/", {"Host": SITE})
    assert "error" in answer, answer


def test_health_endpoint_through_nginx(http):
    answer = http(f"{WEB}healthz", {"Host": "localhost"})
    assert answer["status"] == 200 and answer["body"] == "ok\n"


def test_broken_setting_fails_configtest_before_the_reload_and_the_site_keeps_answering(hosts, http, playbook):
    host = hosts["web1"]
    before = (host.check_output("systemctl show -P MainPID apache2"), _graceful_restarts(host))
    run = playbook("broken-config.yml")
    output = run.stdout
    assert run.returncode != 0
    # The handler's own message (Debian 12's apachectl also prints "Action 'configtest' failed",
    # Debian 13's does not), with Apache's reason.
    assert "Apache's check of its configuration: /usr/sbin/apachectl configtest exited with 1" in output, output[-3000:]
    assert "Invalid command 'BogusDirective'" in output, output[-3000:]
    assert re.search(r"web1 +: .*failed=1", run.stdout), run.stdout[-1500:]
    assert (host.check_output("systemctl show -P MainPID apache2"), _graceful_restarts(host)) == before, \
        "Apache was neither restarted nor reloaded"
    assert {http(WEB, {"Host": SITE})["status"] for _ in range(4)} == {200}
    # Put the good configuration back: configtest passes, Apache reloads once.
    fixed = playbook("broken-config.yml", "-e", "broken=false")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert not host.file(SITE_CONF).contains("BogusDirective")
    assert int(_graceful_restarts(host)) == int(before[1]) + 1
    assert {http(WEB, {"Host": SITE})["status"] for _ in range(4)} == {200}
