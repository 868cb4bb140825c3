"""Hosts of the webtier_mod_wsgi scenario by name, an HTTP client on db1, the cluster plan, a playbook runner."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
SITE = "demo.example.test"
NAMES = ("web1", "db1")
# Inventory variables the cluster plan reads besides the host's size.
PLAN_OVERRIDES = ("django_app_server", "mod_wsgi_mpm", "mod_wsgi_processes", "mod_wsgi_threads")

# An HTTP request made from inside a host, printed as JSON (the hosts have python3, not curl).
_CLIENT = r"""
import json, sys, urllib.error, urllib.request
url, headers = sys.argv[1], json.loads(sys.argv[2])
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
opener = urllib.request.build_opener(NoRedirect)
try:
    resp = opener.open(urllib.request.Request(url, headers=headers), timeout=10)
except urllib.error.HTTPError as err:
    resp = err
except Exception as err:
    print(json.dumps({"error": type(err).__name__ + ": " + str(err)}))
    sys.exit(0)
body = resp.read()
print(json.dumps({"status": resp.status, "headers": {k.lower(): v for k, v in resp.headers.items()},
                  "body": body.decode("utf-8", "replace")}))
"""


@pytest.fixture(scope="session")
def inventory(request):
    return request.config.option.ansible_inventory or os.environ["MOLECULE_INVENTORY_FILE"]


@pytest.fixture(scope="session")
def hosts(inventory):
    return {n: testinfra.get_host(f"ansible://{n}", ansible_inventory=inventory) for n in NAMES}


@pytest.fixture(scope="session")
def http(hosts):
    """http(url, headers={}, client="db1"): a request made from a host."""

    def get(url, headers=None, client="db1"):
        cmd = hosts[client].run("python3 -c %s %s %s", _CLIENT, url, json.dumps(headers or {}))
        assert cmd.rc == 0, cmd.stderr
        return json.loads(cmd.stdout)

    return get


@pytest.fixture(scope="session")
def plan():
    """The cluster plan for this scenario's inventory, computed by the collection's own code."""
    sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.django_deploy.stack.plugins.module_utils import plan as plan_module

    config = yaml.safe_load((SCENARIO / "molecule.yml").read_text())
    all_vars = config["provisioner"]["inventory"]["group_vars"]["all"]
    spec = {
        p["name"]: {"memory_mb": all_vars["django_deploy_host_memory_mb"], "cpus": all_vars["django_deploy_host_cpus"],
                    "groups": p["groups"], "overrides": {k: all_vars[k] for k in PLAN_OVERRIDES if k in all_vars}}
        for p in config["platforms"]
    }
    return plan_module.cluster_plan(spec)["hosts"]


@pytest.fixture(scope="session")
def playbook(inventory):
    def run(path, *args):
        cmd = ["ansible-playbook", "-i", inventory, str(path), *args]
        env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=SCENARIO)

    return run
