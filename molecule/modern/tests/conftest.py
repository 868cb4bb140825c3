"""Fixtures of the modern scenario, from the shared scenario helpers, and HTTPS with pebble's root."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import (  # noqa: E402,F401
    cluster_plan, hosts, inventory, playbook, pytest_terminal_summary, request_from)

# Pebble's root (it makes a new one each start): what the clients verify the site's chain with.
PEBBLE_ROOT = "/usr/local/share/pebble-root.pem"
CLIENTS = ("lb1", "lb2", "acme1")
NAMES = ("modern.example.test", "www.modern.example.test")


@pytest.fixture(scope="session")
def pebble_root(hosts) -> str:
    """Pebble's root CA, read from its management API, on every client; on the load balancers the
    site's names resolve to the host itself, so a request there is answered by its own HAProxy."""
    root = hosts["acme1"].check_output(
        "python3 -c %s", "import ssl, urllib.request; print(urllib.request.urlopen('https://localhost:15000/roots/0', "
                         "context=ssl.create_default_context(cafile='/etc/pebble/ca.pem'), timeout=10).read().decode())")
    assert "BEGIN CERTIFICATE" in root, root
    for name in CLIENTS:
        host = hosts[name]
        host.check_output(f"cat > {PEBBLE_ROOT} <<'EOF'\n{root}\nEOF")
        if name != "acme1":
            host.check_output("grep -v modern.example.test /etc/hosts > /tmp/hosts.new; "
                              f"echo '127.0.0.1 {' '.join(NAMES)}' >> /tmp/hosts.new; cat /tmp/hosts.new > /etc/hosts")
    return root


@pytest.fixture(scope="session")
def http(hosts, pebble_root):
    """http(url, headers=None, data="", client="lb1"): a request from inside a host, HTTPS answers
    verified against pebble's root (scenario_testing.http_fixture has the answer's shape)."""
    def get(url, headers=None, data="", client="lb1"):
        return request_from(hosts[client], url, headers, data, env={"SSL_CERT_FILE": PEBBLE_ROOT})
    return get
