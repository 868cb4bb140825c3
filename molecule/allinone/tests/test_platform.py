"""The host users get: the scenario's Debian release (DEBIAN: 13 for allinone, 12 for
allinone_debian12) with its own PostgreSQL and Python, reached over SSH as an unprivileged user
with sudo (molecule.yml), as production inventories reach theirs."""
from __future__ import annotations

import os

from scenario_testing import host_platform, sql


def test_the_release_with_its_own_postgresql_and_python(hosts):
    vps1 = hosts["vps1"]
    release = os.environ.get("DEBIAN") or "13"
    assert vps1.file("/etc/debian_version").content_string.startswith(release + "."), f"the scenario's image is Debian {release}"
    platform = host_platform(vps1)
    postgresql = platform["postgresql"]
    assert sql(vps1, "SHOW server_version_num").startswith(str(postgresql["version"])), postgresql
    assert vps1.package(postgresql["packages"][0]).is_installed
    others = {15, 17} - {postgresql["version"]}
    assert not any(vps1.package(f"postgresql-{version}").is_installed for version in others)
    assert vps1.check_output("/srv/demo/current/venv/bin/python --version").startswith(f"Python {platform['python']}.")


def test_converged_over_ssh_as_the_sudo_user(hosts):
    vps1 = hosts["vps1"]
    log = vps1.check_output("journalctl -u ssh --no-pager -o cat")
    assert "Accepted publickey for deploy" in log
    assert "Accepted publickey for root" not in log
    # The collection's commands ran through sudo as root (become), from that user.
    assert vps1.run("journalctl _COMM=sudo --no-pager -o cat | grep -c 'deploy : .*USER=root'").stdout.strip() not in ("", "0")
