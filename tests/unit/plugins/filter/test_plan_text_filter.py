"""The plan_text filter: a thin wrapper over plugins/module_utils/plan_text.py."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from jinja2 import StrictUndefined, Undefined

from ansible_collections.django_deploy.stack.plugins.filter.plan_text import FilterModule
from ansible_collections.django_deploy.stack.plugins.module_utils import plan, plan_text

LABELS = {"db1": "primary", "db2": "replica"}


def three_hosts():
    hosts = {
        "app1": {"memory_mb": 4096, "cpus": 4, "overrides": {},
                 "groups": ["loadbalancers", "webservers", "memcached", "rabbitmq", "celery_workers", "celery_beat"]},
        "db1": {"memory_mb": 4096, "cpus": 2, "groups": ["db_primary"], "overrides": {}},
        "db2": {"memory_mb": 1024, "cpus": 1, "groups": ["db_replicas"], "overrides": {}},
    }
    return plan.cluster_plan(hosts)


# --- the filter ------------------------------------------------------------------------------------------

FILTERS = FilterModule().filters()


def test_filter_is_the_function():
    result = three_hosts()
    assert list(FILTERS) == ["plan_text"]
    assert FILTERS["plan_text"](result, LABELS) == plan_text.plan_text(result, LABELS)
    assert FILTERS["plan_text"](result) == plan_text.plan_text(result)


@pytest.mark.parametrize("args, message", [
    (("plan",), "plan_text: plan must be cluster_plan"),
    (({"hosts": {}, "totals": {}}, "db1=primary"), "plan_text: labels must map host names"),
])
def test_filter_errors_are_ansible_filter_errors(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS["plan_text"](*args)


@pytest.mark.parametrize("undefined", [Undefined(name="plan"), StrictUndefined(name="plan")])
def test_filter_passes_undefined_through(undefined):
    assert FILTERS["plan_text"](undefined) is undefined
    assert FILTERS["plan_text"](three_hosts(), undefined) is undefined


def test_filter_has_a_sidecar_doc():
    doc = yaml.safe_load((Path(__file__).resolve().parents[4] / "plugins" / "filter" / "plan_text.yml").read_text())
    assert doc["DOCUMENTATION"]["name"] == "plan_text"
    assert doc["DOCUMENTATION"]["version_added"] == "1.1.0"
    assert doc["DOCUMENTATION"]["positional"] == "_input, labels"
    assert set(doc["DOCUMENTATION"]["options"]) == {"_input", "labels"}
    assert "django_deploy.stack.plan_text" in doc["EXAMPLES"]
    assert "_value" in doc["RETURN"]
