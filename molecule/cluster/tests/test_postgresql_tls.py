"""PostgreSQL between hosts over TLS (postgresql_tls, on by default): the app's connections (to
each database host's PgBouncer, postgresql_pooler, which serves TLS with the host's certificate)
and the replica's streaming (ssl = t in pg_stat_ssl) are encrypted, the app verifies the server
(verify-full against the collection's CA) on both ports, and PostgreSQL's pg_hba and PgBouncer's
hba refuse a connection from an app host without TLS."""
import pytest

from conftest import APP_HOSTS, PORTS, WEB, page, pooler_console, sql
from scenario_testing import eventually, private_address

APP_CONNECTIONS = """
SELECT host(a.client_addr), s.ssl
  FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
 WHERE a.usename = 'demo' AND a.client_addr IS NOT NULL
"""
WALSENDER = """
SELECT host(a.client_addr), s.ssl, s.version
  FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
 WHERE a.backend_type = 'walsender'
"""
# A connection as the app from an app host, with the app's driver and password; prints "ok" or the error.
CONNECT = r"""
import os, sys
import psycopg
try:
    psycopg.connect(host=sys.argv[1], port=int(sys.argv[2]), dbname="demo", user="demo", connect_timeout=5,
                    password=os.environ["DJANGO_DATABASE_PASSWORD"], sslmode=sys.argv[3],
                    sslrootcert="/etc/demo/postgresql-root.crt").close()
    print("ok")
except psycopg.OperationalError as exc:
    print(exc)
"""


def rows(host, query: str) -> list[list[str]]:
    return [line.split("|") for line in sql(host, query).splitlines() if line]


def connect_from(host, address: str, sslmode: str, service: str = "postgresql") -> str:
    return host.check_output(
        "set -a && . /etc/demo/environment && /srv/demo/current/venv/bin/python -c %s %s %s %s",
        CONNECT, address, str(PORTS[service][0]), sslmode)


def test_the_apps_connections_to_both_database_hosts_use_tls(http, hosts):
    web = {private_address(hosts[name]) for name in WEB}

    def connections():
        # Requests through lb1 reach both web hosts: each keeps its connections (CONN_MAX_AGE) to the
        # primary (health checks, writes) and the replica (reads).
        statuses = [page(http).get("status") for request in range(6)]
        assert set(statuses) == {200}, statuses
        # The app reaches each database host through its PgBouncer: its clients there.
        found = {name: [(c["addr"], c["tls"]) for c in pooler_console(hosts[name], "SHOW CLIENTS")
                        if c["database"] == "demo" and c["user"] == "demo"] for name in ("db1", "db2")}
        return found if all(web <= {addr for addr, _tls in found[name]} for name in found) else None

    found = eventually(connections, timeout=30, interval=2)
    assert found, "no connection of both web hosts to both database hosts"
    for name, connected in found.items():
        remote = [tls for addr, tls in connected if addr != "127.0.0.1"]
        assert remote and all(tls.startswith("TLSv1.") for tls in remote), (name, connected)


def test_the_replica_streams_over_tls(hosts):
    streams = rows(hosts["db1"], WALSENDER)
    assert [row[0] for row in streams] == [private_address(hosts["db2"])], streams
    assert streams[0][1] == "t" and streams[0][2].startswith("TLSv1."), streams
    conninfo = sql(hosts["db2"], "SELECT conninfo FROM pg_stat_wal_receiver")
    assert "sslmode=verify-full" in conninfo, conninfo


@pytest.mark.parametrize("name", APP_HOSTS)
def test_the_app_verifies_the_servers_certificate(hosts, name):
    settings = hosts[name].file("/etc/demo/python/django_deploy_settings.py").content_string
    assert '"sslmode": "verify-full"' in settings
    assert "sslmode=verify-full&sslrootcert=/etc/demo/postgresql-root.crt'" in hosts[name].check_output(
        "grep ^DATABASE_URL= /etc/demo/environment")
    # The address the app connects to is in the certificate: verify-full succeeds there, on
    # PostgreSQL's port (migrations) and on PgBouncer's (everything else), which serves the same one.
    assert connect_from(hosts[name], private_address(hosts["db1"]), "verify-full") == "ok"
    assert connect_from(hosts[name], private_address(hosts["db1"]), "verify-full", "pgbouncer") == "ok"
    assert connect_from(hosts[name], private_address(hosts["db2"]), "verify-full", "pgbouncer") == "ok"


def test_a_connection_without_tls_from_an_app_host_is_refused(hosts):
    refused = connect_from(hosts["web1"], private_address(hosts["db1"]), "disable")
    assert "no pg_hba.conf entry" in refused and "no encryption" in refused, refused
    for name in ("db1", "db2"):
        refused = connect_from(hosts["worker1"], private_address(hosts[name]), "disable", "pgbouncer")
        assert "SSL required" in refused, (name, refused)
    refused = connect_from(hosts["worker1"], private_address(hosts["db2"]), "disable")
    assert "no pg_hba.conf entry" in refused, refused


def test_the_cas_key_stays_on_the_controller(hosts):
    for name in ("db1", "db2"):
        found = hosts[name].check_output("ls /etc/postgresql/*/main/")
        assert {"server.crt", "server.key", "root.crt"} <= set(found.split()), found
        assert hosts[name].run("grep -rl 'PRIVATE KEY' /etc/postgresql").stdout.split() == [
            hosts[name].check_output("ls /etc/postgresql/*/main/server.key")], name
        key = hosts[name].file(hosts[name].check_output("ls /etc/postgresql/*/main/server.key"))
        assert (key.user, key.mode) == ("postgres", 0o600)
