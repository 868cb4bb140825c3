"""Fixtures of the scale_out scenario, from the shared scenario helpers, and copies of molecule's
inventory with some groups rewritten, as a user edits the inventory after promote.yml."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from scenario_testing import (  # noqa: E402,F401  (fixtures and the hook are registered by importing them here)
    ROOT, hosts, http_fixture, inventory, loadgen_fixture, playbook, pytest_terminal_summary)

SCENARIO = Path(__file__).resolve().parents[1]

http = http_fixture(client="db1")  # a client outside the web tier
# Load through lb1 from out1, outside the stack, while it grows: the page and its stylesheet.
loadgen = loadgen_fixture(client="out1", url="http://lb1/", site="demo.example.test")


@pytest.fixture(scope="session")
def edited_inventory(inventory, tmp_path_factory) -> Callable[[str, Mapping[str, Iterable[str]]], Path]:
    """edited_inventory("after-promotion", {"db_primary": ["db2"], "spare": []}): a copy of molecule's
    inventory directory (connection details, group_vars and all) in which each group named holds
    exactly the hosts listed, and a group listed empty is gone; the other groups are left as they
    are. Extra inventory sources cannot do this: they add hosts to groups, never take one out."""
    source = Path(inventory)
    if source.is_file():  # MOLECULE_INVENTORY_FILE rather than testinfra's --ansible-inventory directory
        source = source.parent

    def make(name: str, groups: Mapping[str, Iterable[str]]) -> Path:
        target = tmp_path_factory.mktemp(name)
        shutil.copytree(source, target, dirs_exist_ok=True)
        data = yaml.safe_load((target / "ansible_inventory.yml").read_text())
        every_host = data["all"]["hosts"]
        for group, names in groups.items():
            members = list(names)
            if members:
                data[group] = {**(data.get(group) or {}), "hosts": {host: every_host[host] for host in members}}
            else:
                data.pop(group, None)
        (target / "ansible_inventory.yml").write_text(yaml.safe_dump(data))
        return target

    return make
