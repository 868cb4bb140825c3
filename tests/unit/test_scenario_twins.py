"""The Debian 12 twins of the cluster and allinone scenarios run the same hosts, inventory, converge
and tests as the scenarios they repeat (molecule has no include: their molecule.yml copies these),
on the other release."""
from pathlib import Path

import pytest
import yaml

MOLECULE = Path(__file__).resolve().parents[2] / "molecule"


@pytest.mark.parametrize("twin, original", [("cluster_debian12", "cluster"), ("allinone_debian12", "allinone")])
def test_a_debian_12_twin_repeats_its_scenario(twin, original):
    copy = yaml.safe_load((MOLECULE / twin / "molecule.yml").read_text())
    source = yaml.safe_load((MOLECULE / original / "molecule.yml").read_text())
    assert copy["platforms"] == source["platforms"]
    assert copy["provisioner"]["inventory"] == source["provisioner"]["inventory"]
    assert copy["provisioner"]["playbooks"]["converge"] == f"../{original}/converge.yml"
    assert copy["verifier"]["directory"] == f"../{original}/tests"
    assert copy["provisioner"]["env"]["DEBIAN"] == "12" and "DEBIAN" not in source["provisioner"].get("env", {})
    connection = {key: value for key, value in source["provisioner"].get("env", {}).items() if key.startswith("DJANGO_")}
    assert {key: copy["provisioner"]["env"].get(key) for key in connection} == connection
