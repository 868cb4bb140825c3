"""The host users get today: Debian 13 with its own PostgreSQL and Python, reached over SSH as an
unprivileged user with sudo (molecule.yml), as production inventories reach theirs."""
from __future__ import annotations

from scenario_testing import sql


def test_debian_13_with_its_postgresql_and_python(hosts):
    vps1 = hosts["vps1"]
    assert vps1.file("/etc/debian_version").content_string.startswith("13."), "the scenario's image is Debian 13"
    assert sql(vps1, "SHOW server_version_num").startswith("17"), "Debian 13's PostgreSQL is 17"
    assert vps1.package("postgresql-17").is_installed and not vps1.package("postgresql-15").is_installed
    assert vps1.check_output("/srv/demo/current/venv/bin/python --version").startswith("Python 3.13")


def test_converged_over_ssh_as_the_sudo_user(hosts):
    vps1 = hosts["vps1"]
    log = vps1.check_output("journalctl -u ssh --no-pager -o cat")
    assert "Accepted publickey for deploy" in log
    assert "Accepted publickey for root" not in log
    # The collection's commands ran through sudo as root (become), from that user.
    assert vps1.run("journalctl _COMM=sudo --no-pager -o cat | grep -c 'deploy : .*USER=root'").stdout.strip() not in ("", "0")
