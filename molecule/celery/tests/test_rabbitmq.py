"""RabbitMQ on mq1..mq3: one cluster, hardened accounts, private listeners, sizing from the plan.
Read-only: the test that stops a node is in test_rabbitmq_app.py, which runs after this file."""
import hashlib
import json

import pytest

from conftest import BROKERS, private_address

testinfra_hosts = list(BROKERS)
NODES = {f"rabbit@{name}" for name in BROKERS}


def ctl(host, *args):
    return host.check_output("rabbitmqctl -q " + " ".join(["%s"] * len(args)), *args)


def test_guest_is_gone(host):
    users = {u["user"] for u in json.loads(ctl(host, "list_users", "--formatter", "json"))}
    assert users == {"demo"}
    assert host.run("rabbitmqctl authenticate_user guest guest").rc != 0


def test_app_user_has_permissions_on_its_vhost_only(host):
    perms = json.loads(ctl(host, "list_user_permissions", "demo", "--formatter", "json"))
    assert [(p["vhost"], p["configure"], p["write"], p["read"]) for p in perms] == [("demo", ".*", ".*", ".*")]
    assert "demo" not in ctl(host, "list_permissions", "-p", "/")


def test_app_vhost_defaults_to_quorum_queues(host):
    vhosts = json.loads(ctl(host, "list_vhosts", "name", "default_queue_type", "--formatter", "json"))
    assert {"name": "demo", "default_queue_type": "quorum"} in vhosts


def test_all_nodes_report_one_cluster(host):
    status = json.loads(ctl(host, "cluster_status", "--formatter", "json"))
    assert set(status["running_nodes"]) == NODES
    assert set(status["disk_nodes"]) == NODES


def test_listeners_on_private_address_only(host):
    address = private_address(host)
    listeners = [line.split()[3] for line in host.check_output("ss -Hltn").splitlines()]
    assert [a for a in listeners if a.endswith(":5672")] == [f"{address}:5672"]  # AMQP
    assert [a for a in listeners if a.endswith(":25672")] == [f"{address}:25672"]  # Erlang distribution
    assert not [a for a in listeners if a.endswith(":15672")], "management is off by default"
    assert host.file("/etc/rabbitmq/enabled_plugins").contains(r"^\[\]\.$")


def test_memory_and_disk_alarms_are_the_plans(host, cluster_plan):
    name = host.backend.get_hostname()
    entry = cluster_plan["hosts"][name]
    conf = host.file("/etc/rabbitmq/rabbitmq.conf")
    for key, value in entry["rabbitmq"].items():
        assert conf.contains(f"^{key} = {value}$"), key
    status = json.loads(host.check_output("rabbitmq-diagnostics -q status --formatter json"))
    watermark = entry["rabbitmq"].get("vm_memory_high_watermark.relative")
    if watermark is not None:
        # A share of the RAM the plan sized the host with (not of the container's whole machine).
        assert status["vm_memory_high_watermark_setting"] == {"relative": float(watermark)}
        assert status["vm_memory_high_watermark_limit"] == int(float(watermark) * entry["memory_mb"] * 1024**2)
    disk = entry["rabbitmq"]["disk_free_limit.absolute"]
    assert disk.endswith("MiB") and status["disk_free_limit"] == int(disk[:-3]) * 1024**2


def test_open_file_limit_is_raised(host):
    assert host.check_output("systemctl show -p LimitNOFILE --value rabbitmq-server") == "100000"
    pid = host.check_output("systemctl show -p MainPID --value rabbitmq-server")
    soft = int(host.check_output(f"awk '/Max open files/ {{print $4}}' /proc/{pid}/limits"))
    # A container cannot go above its own hard limit (PID 1's); a real host gets the full 100000.
    ceiling = int(host.check_output("awk '/Max open files/ {print $5}' /proc/1/limits"))
    assert soft == min(100000, ceiling)
    assert int(ctl(host, "eval", "erlang:system_info(port_limit).")) >= 100000


def test_erlang_cookie_is_private_and_shared(host, hosts):
    cookie = host.file("/var/lib/rabbitmq/.erlang.cookie")
    assert (cookie.user, cookie.group, cookie.mode) == ("rabbitmq", "rabbitmq", 0o400)
    digests = {hashlib.sha256(hosts[n].file("/var/lib/rabbitmq/.erlang.cookie").content).hexdigest()
               for n in BROKERS}
    assert len(digests) == 1


@pytest.mark.parametrize("path", ["/etc/rabbitmq/rabbitmq.conf", "/etc/rabbitmq/enabled_plugins"])
def test_config_is_not_world_readable(host, path):
    f = host.file(path)
    assert f.mode == 0o640 and f.group == "rabbitmq"
