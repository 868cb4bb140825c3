"""tools/filter_plugins/test_hosts.py: the addresses of the local test hosts (make demo, molecule).

A host keeps the address its running container is labelled with; a new host gets the lowest free
one; adding or removing hosts never moves a running one (hypothesis); bad labels are ignored.
"""
import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

_PATH = Path(__file__).resolve().parents[3] / "tools" / "filter_plugins" / "test_hosts.py"
_SPEC = importlib.util.spec_from_file_location("test_hosts_filters", _PATH)
test_hosts = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(test_hosts)
addresses = test_hosts.test_hosts_addresses

PREFIX = "10.150.3"


def containers(mapping):
    """docker_host_info's verbose list for containers labelled {host: address}."""
    return [{"Id": f"id-{name}", "Labels": {"host": name, "address": address, "network": "n"}}
            for name, address in mapping.items()]


def test_new_hosts_get_the_lowest_free_addresses_in_inventory_order():
    assert addresses(["lb1", "web1", "db1"], PREFIX) == {
        "lb1": "10.150.3.10", "web1": "10.150.3.11", "db1": "10.150.3.12"}


def test_a_running_host_keeps_its_address_and_a_new_one_takes_a_free_one():
    running = containers({"lb1": "10.150.3.10", "web1": "10.150.3.11", "db1": "10.150.3.12"})
    # web3 added before db1 in the inventory: nothing moves, web3 takes the next free address.
    assert addresses(["lb1", "web1", "web3", "db1"], PREFIX, running) == {
        "lb1": "10.150.3.10", "web1": "10.150.3.11", "web3": "10.150.3.13", "db1": "10.150.3.12"}


def test_a_host_out_of_the_inventory_still_holds_its_address():
    running = containers({"old": "10.150.3.10", "web1": "10.150.3.11"})
    assert addresses(["web1", "new"], PREFIX, running) == {"web1": "10.150.3.11", "new": "10.150.3.12"}


@pytest.mark.parametrize("label", ["", "garbage", "10.150.4.10", "10.150.3.1", "10.150.3.255"])
def test_a_label_that_is_no_address_of_the_network_counts_as_none(label):
    assert addresses(["web1"], PREFIX, containers({"web1": label})) == {"web1": "10.150.3.10"}


def test_an_address_claimed_twice_goes_to_one_host_only():
    running = containers({"a": "10.150.3.10", "b": "10.150.3.10"})
    assert addresses(["a", "b"], PREFIX, running) == {"a": "10.150.3.10", "b": "10.150.3.11"}


def test_unlabelled_containers_are_ignored():
    assert addresses(["web1"], PREFIX, [{"Id": "x", "Labels": None}, {"Id": "y"}]) == {"web1": "10.150.3.10"}


def test_a_full_network_is_an_error_naming_the_host():
    names = [f"h{i}" for i in range(245)]
    assert len(set(addresses(names, PREFIX).values())) == 245
    with pytest.raises(AnsibleFilterError, match="no free address left for h245"):
        addresses(names + ["h245"], PREFIX)


names = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), unique=True, max_size=40)


@given(first=names, second=names)
def test_changing_the_inventory_never_moves_a_running_host(first, second):
    before = addresses(first, PREFIX)
    after = addresses(second, PREFIX, containers(before))
    assert all(after[name] == before[name] for name in second if name in before)
    assert len(set(after.values())) == len(after), "every host has an address of its own"
    assert not set(after.values()) & {before[name] for name in before if name not in after}, \
        "a running host out of the inventory keeps its address to itself"
