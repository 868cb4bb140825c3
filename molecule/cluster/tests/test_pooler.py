"""Issue 19: PgBouncer on each database host (postgresql_pooler: pgbouncer). The app's connections
go through it in transaction mode (SHOW POOLS and SHOW STATS on db1's console show the app's
database with traffic) and reach PostgreSQL from 127.0.0.1 only, within the pool the plan sized;
migrations connect to PostgreSQL directly (their advisory lock is a session's); a configuration
PgBouncer would refuse is refused before it is installed."""
import hashlib

import pytest

from conftest import APP_HOSTS, PORTS, page, pooler_console, sql
from scenario_testing import eventually, private_address, report

DB_HOSTS = ("db1", "db2")
# The app's sessions on PostgreSQL: client backends of its role, with where they come from.
APP_SESSIONS = "SELECT coalesce(host(client_addr), 'local') FROM pg_stat_activity WHERE usename = 'demo' AND backend_type = 'client backend'"
# roles/django_app/vars/main.yml, __django_app_lock_key: the migrate advisory lock of app "demo".
LOCK_KEY = int(hashlib.sha1(b"django_deploy:demo").hexdigest()[:15], 16)
WAITING = ("SELECT host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
           "WHERE l.locktype = 'advisory' AND NOT l.granted AND a.query LIKE '%pg_advisory_lock%'")
MIGRATE = ("DJANGO_DEPLOY_DATABASE_DIRECT=1 setsid timeout 60 /usr/local/sbin/demo-run python "
           "/etc/demo/python/django_deploy_migrate.py {key} >/tmp/pooler-migrate.out 2>&1 &")


def stats(host) -> dict:
    return next(row for row in pooler_console(host, "SHOW STATS") if row["database"] == "demo")


def test_show_pools_on_the_primary_shows_the_apps_database_with_traffic(http, hosts):
    before = int(stats(hosts["db1"])["total_xact_count"])
    # Pages through lb1 (their writes: sessions; HAProxy's health checks read the primary too).
    statuses = [page(http).get("status") for _request in range(10)]
    assert set(statuses) == {200}, statuses
    pools = [row for row in pooler_console(hosts["db1"], "SHOW POOLS") if row["database"] == "demo"]
    assert [(row["user"], row["pool_mode"]) for row in pools if row["user"] == "demo"] == [("demo", "transaction")], pools
    after = int(stats(hosts["db1"])["total_xact_count"])
    assert after > before, (before, after)
    app = next(row for row in pools if row["user"] == "demo")
    report(f"pooler: db1's PgBouncer served {after - before} transactions of demo during 10 pages; its pool: "
           + ", ".join(f"{key} {app[key]}" for key in ("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used")))


@pytest.mark.parametrize("name", DB_HOSTS)
def test_the_apps_connections_reach_postgresql_from_loopback_through_pgbouncer(http, hosts, cluster_plan, name):
    statuses = [page(http).get("status") for _request in range(6)]
    assert set(statuses) == {200}, statuses
    sessions = sql(hosts[name], APP_SESSIONS).split()
    assert sessions and set(sessions) == {"127.0.0.1"}, sessions
    # Never more server connections than the plan gave the pool (+ its reserve).
    assert len(sessions) <= cluster_plan["hosts"][name]["pgbouncer"]["max_db_connections"], sessions
    ini = hosts[name].file("/etc/pgbouncer/pgbouncer.ini").content_string
    assert f"default_pool_size = {cluster_plan['hosts'][name]['pgbouncer']['default_pool_size']}" in ini
    assert "pool_mode = transaction" in ini and "client_tls_sslmode = require" in ini


@pytest.mark.parametrize("name", APP_HOSTS)
def test_the_app_pools_through_pgbouncer_with_the_settings_transaction_pooling_needs(hosts, name):
    settings = hosts[name].file("/etc/demo/python/django_deploy_settings.py").content_string
    assert '"DISABLE_SERVER_SIDE_CURSORS": True' in settings and '"CONN_MAX_AGE": None' in settings
    url = hosts[name].check_output("grep ^DATABASE_URL= /etc/demo/environment")
    assert f"@{private_address(hosts['db1'])}:{PORTS['pgbouncer'][0]}/demo?" in url


def test_migrations_connect_to_postgresql_directly(hosts):
    """The migrate step's advisory lock, held up by a session of db1's: the step waits for it on a
    connection from web1's own address to PostgreSQL, not from 127.0.0.1 (PgBouncer)."""
    db1, web1 = hosts["db1"], hosts["web1"]
    db1.run("runuser -u postgres -- setsid timeout 60 psql -d demo -Xqc %s >/dev/null 2>&1 &",
            f"SELECT pg_advisory_lock({LOCK_KEY}); SELECT pg_sleep(50)")
    try:
        held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        assert eventually(lambda: sql(db1, held) != "0", timeout=15), "the test's session did not take the lock"
        web1.run(MIGRATE.format(key=LOCK_KEY))
        waiting = eventually(lambda: sql(db1, WAITING, db="demo"), timeout=30)
        assert waiting == private_address(web1), waiting
    finally:
        sql(db1, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(50)%' AND pid <> pg_backend_pid()")
    done = eventually(lambda: "django_deploy_migrate:" in web1.file("/tmp/pooler-migrate.out").content_string, timeout=30)
    assert done, web1.file("/tmp/pooler-migrate.out").content_string
    assert "nothing to apply" in web1.file("/tmp/pooler-migrate.out").content_string


def test_a_configuration_pgbouncer_refuses_is_refused_before_it_is_installed(hosts):
    db1 = hosts["db1"]
    assert db1.run("/usr/local/sbin/django-deploy-pgbouncer-check ini /etc/pgbouncer/pgbouncer.ini").rc == 0
    db1.check_output("sed 's/^pool_mode = .*/pool_mode = sometimes/' /etc/pgbouncer/pgbouncer.ini > /tmp/pooler-bad.ini")
    bad = db1.run("/usr/local/sbin/django-deploy-pgbouncer-check ini /tmp/pooler-bad.ini")
    assert bad.rc != 0 and "pool_mode" in bad.stderr, (bad.rc, bad.stderr)
    assert db1.service("pgbouncer").is_running
