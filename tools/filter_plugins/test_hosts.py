# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the local test hosts (tools/hosts/start.yml): not part of the collection.

test_hosts_addresses keeps the address of every container that already has one and gives each new
host the lowest free address of the network: adding or removing a host moves no running host.
"""

import ipaddress

from ansible.errors import AnsibleFilterError

# .1 is the network's gateway; the hosts take .10 to .254.
FIRST_HOST, LAST_HOST = 10, 254


def test_hosts_addresses(names, prefix24, containers=()):
    """{name: address} for the hosts `names` on the /24 network `prefix24` ("10.130.7").

    containers: the containers already on the network (docker_host_info's verbose list), hosts of
    the inventory or not, each labelled with its host name and address (start.yml): those keep
    their address, and no new host is given one of them. An address outside the network, or
    claimed twice, counts as none: that host gets a new one.
    """
    network = ipaddress.ip_network(prefix24 + ".0/24")
    existing = {}
    for container in containers:
        labels = container.get("Labels") or {}
        if labels.get("host"):
            existing[labels["host"]] = labels.get("address", "")
    kept, claimed = {}, set()
    for name in sorted(existing):
        address = existing[name]
        try:
            valid = ipaddress.ip_address(address) in network and FIRST_HOST <= int(address.rsplit(".", 1)[1]) <= LAST_HOST
        except ValueError:
            valid = False
        if valid and address not in claimed:
            kept[name] = address
            claimed.add(address)
    free = (f"{prefix24}.{last}" for last in range(FIRST_HOST, LAST_HOST + 1) if f"{prefix24}.{last}" not in claimed)
    addresses = {}
    for name in names:
        if name in kept:
            addresses[name] = kept[name]
            continue
        address = next(free, None)
        if address is None:
            raise AnsibleFilterError(f"the network {network} has no free address left for {name}")
        addresses[name] = address
    return addresses


class FilterModule:
    """The test hosts' filters."""

    def filters(self):
        return {"test_hosts_addresses": test_hosts_addresses}
