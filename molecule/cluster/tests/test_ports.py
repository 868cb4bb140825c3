"""Issue 15's acceptance: every public port off its default (molecule.yml), the site works end to
end (test_cluster.py: replica read, cache, Celery task, static files through lb1), and each
service listens on its port and not on the default: the other tiers reached it there."""
import pytest

from conftest import PORTS

SERVERS = {"postgresql": ["db1", "db2"], "memcached": ["cache1"], "rabbitmq": ["mq1"], "nginx": ["web1", "web2"],
           "pgbouncer": ["db1", "db2"]}


def _listening(host) -> set[int]:
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in host.check_output("ss -Hltn").splitlines()}


@pytest.mark.parametrize("service", sorted(SERVERS))
def test_service_listens_on_its_port_not_the_default(hosts, service):
    port, default = PORTS[service]
    for name in SERVERS[service]:
        ports = _listening(hosts[name])
        assert port in ports and default not in ports, (name, sorted(ports))


def test_erlang_distribution_follows_the_amqp_port(hosts):
    assert PORTS["rabbitmq"][0] + 20000 in _listening(hosts["mq1"])


def test_the_app_reaches_each_tier_on_its_port(hosts):
    settings = hosts["web1"].check_output("cat /etc/demo/python/django_deploy_settings.py")
    # Through PgBouncer (postgresql_pooler), on its port; PostgreSQL's own for migrations.
    assert f'"PORT": "{PORTS["pgbouncer"][0]}"' in settings
    assert f'"PORT": "{PORTS["postgresql"][0]}"' in settings
    assert f':{PORTS["memcached"][0]}"' in settings
    broker = hosts["worker1"].check_output("grep ^CELERY_BROKER_URL= /etc/demo/environment")
    assert f':{PORTS["rabbitmq"][0]}/' in broker
    backends = hosts["lb1"].check_output("grep -E '^ +server ' /etc/haproxy/haproxy.cfg")
    assert backends.count(f':{PORTS["nginx"][0]} ') == 2, backends
