"""memcached on cache1: sized by the plan, TCP on private + loopback only, no UDP, reached from
web1, never restarted by a re-run. The two re-run tests converge cache1 again (the second
restarts memcached, then puts its config back): this file runs after test_celery (alphabetical
order), and they leave memcached running as converged."""
import re

from conftest import APP_CLIENT, CACHE, private_address

testinfra_hosts = [CACHE]

UDP_PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
# memcached's UDP frame header (request id 1, seq 0, 1 datagram) then a stats command.
s.sendto(b"\x00\x01\x00\x00\x00\x01\x00\x00stats\r\n", (sys.argv[1], 11211))
try:
    print("reply", len(s.recv(65535)))
except (socket.timeout, ConnectionRefusedError) as exc:
    print("no reply", type(exc).__name__)
"""

TCP_STATS = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 11211), timeout=5)
s.sendall(sys.argv[2].encode() + b"\r\n")
data = b""
while not data.endswith(b"END\r\n"):
    data += s.recv(65535)
print(data.decode())
"""


def stats(host, address="127.0.0.1", command="stats") -> dict:
    out = host.check_output("python3 -c %s %s %s", TCP_STATS, address, command)
    return {m[0]: m[1] for m in re.findall(r"^STAT (\S+) (\S+)", out, re.M)}


def test_tcp_only_on_private_address_and_loopback(host):
    listeners = host.check_output("ss -Hltn 'sport = :11211'").splitlines()
    assert sorted(line.split()[3] for line in listeners) == sorted(
        [f"{private_address(host)}:11211", "127.0.0.1:11211"])


def test_nothing_on_udp(host):
    assert host.check_output("ss -Hlun 'sport = :11211'") == ""
    assert "11211" not in host.check_output("ss -Hluna")


def test_config_turns_udp_off_explicitly(host):
    conf = host.file("/etc/memcached.conf")
    assert conf.contains("^-U 0$")
    assert not conf.contains("0\\.0\\.0\\.0")


def test_stats_show_the_planned_sizing(host, cluster_plan):
    planned = cluster_plan["hosts"][CACHE]["memcached"]
    live = stats(host)
    assert int(live["limit_maxbytes"]) == planned["memory_mb"] * 1024 * 1024
    assert int(live["max_connections"]) == planned["max_connections"]
    assert int(live["threads"]) == planned["threads"]


def test_app_host_reaches_it_over_tcp_not_udp(hosts):
    client = hosts[APP_CLIENT]
    assert "limit_maxbytes" in stats(client, CACHE)
    assert client.check_output("python3 -c %s %s", UDP_PROBE, CACHE).startswith("no reply")


def _since(host) -> tuple[str, str]:
    return (host.check_output("systemctl show -p MainPID --value memcached"),
            host.check_output("systemctl show -p ActiveEnterTimestamp --value memcached"))


def _recap_changed(recap: str, name: str) -> int:
    return int(re.search(rf"^{name}\s*:.*changed=(\d+)", recap, re.M).group(1))


def test_rerun_neither_restarts_nor_flushes(host, converge):
    host.check_output("python3 -c %s", "import socket; s = socket.create_connection(('127.0.0.1', 11211)); "
                      "s.sendall(b'set probe_key 0 0 1\\r\\nx\\r\\n'); assert s.recv(64) == b'STORED\\r\\n'")
    before = _since(host)
    recap = converge(CACHE)
    assert _recap_changed(recap, CACHE) == 0
    assert _since(host) == before
    assert int(stats(host)["curr_items"]) >= 1, "the cache kept its items"


def test_own_config_change_restarts_it(host, converge):
    before = _since(host)
    try:
        converge(CACHE, "-e", "memcached_max_item_size=2m")
        assert _since(host)[0] != before[0]
        assert int(stats(host, command="stats settings")["item_size_max"]) == 2 * 1024 * 1024
    finally:
        converge(CACHE)
    assert int(stats(host, command="stats settings")["item_size_max"]) == 1024 * 1024
