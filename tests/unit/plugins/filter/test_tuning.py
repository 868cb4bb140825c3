"""Unit tests for plugins/filter/tuning.py: the wrappers' coercion and error translation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from jinja2 import StrictUndefined, Undefined

from ansible_collections.django_deploy.stack.plugins.filter.tuning import FilterModule
from ansible_collections.django_deploy.stack.plugins.module_utils import plan, tuning

FILTERS = FilterModule().filters()
NAMES = ["host_budget", "host_services", "pg_tune", "pg_cluster_settings", "gunicorn_workers", "mod_wsgi_daemon",
         "apache_mpm", "memcached_settings", "rabbitmq_memory", "celery_concurrency", "haproxy_maxconn",
         "nginx_workers", "cluster_plan"]


def test_filter_names_are_the_public_interface():
    assert sorted(FILTERS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_filter_has_a_sidecar_doc(name):
    doc = yaml.safe_load((Path(__file__).resolve().parents[4] / "plugins" / "filter" / f"{name}.yml").read_text())
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["DOCUMENTATION"]["version_added"] == "1.0.0"
    assert "_input" in doc["DOCUMENTATION"]["options"]
    assert f"django_deploy.stack.{name}" in doc["EXAMPLES"]
    assert "_value" in doc["RETURN"]


@pytest.mark.parametrize("name, args, kwargs, message", [
    # negative or string RAM
    ("pg_tune", (-1024,), {"cpus": 2}, "pg_tune: memory_mb must be >= 1, got -1024"),
    ("pg_tune", ("lots",), {"cpus": 2}, "pg_tune: memory_mb must be an integer, got str 'lots'"),
    ("host_budget", ("2GB", ["nginx"]), {}, "host_budget: memory_mb must be an integer"),
    ("host_budget", (-1, ["nginx"]), {}, "host_budget: memory_mb must be >= 256"),
    ("gunicorn_workers", (None,), {"cpus": 2}, "gunicorn_workers: memory_mb must be an integer"),
    ("celery_concurrency", (-5,), {"cpus": 2}, "celery_concurrency: memory_mb must be >= 1"),
    # zero CPUs
    ("pg_tune", (4096,), {"cpus": 0}, "pg_tune: cpus must be >= 1, got 0"),
    ("gunicorn_workers", (4096,), {"cpus": 0}, "gunicorn_workers: cpus must be >= 1"),
    ("nginx_workers", (128,), {"cpus": "0"}, "nginx_workers: cpus must be >= 1"),
    ("memcached_settings", (128,), {"cpus": 0}, "memcached_settings: cpus must be >= 1"),
    ("mod_wsgi_daemon", (128,), {"cpus": 0}, "mod_wsgi_daemon: cpus must be >= 1"),
    ("pg_tune", (4096,), {}, "pg_tune: missing a required argument: 'cpus'"),
    # unknown service, app server, storage, MPM
    ("host_budget", (4096, ["nginx", "varnish"]), {}, "host_budget: services must be one of .* got 'varnish'"),
    ("host_services", (["webservers"],), {"app_server": "uwsgi"}, "host_services: app_server must be one of"),
    ("pg_tune", (4096,), {"cpus": 2, "storage": "tape"},
     "pg_tune: storage must be one of ssd, hdd, san, nvme, got 'tape'"),
    ("apache_mpm", ("winnt",), {"processes": 1, "threads": 5}, "apache_mpm: mpm must be one of"),
    # other arguments
    ("pg_tune", (4096,), {"cpus": 2, "pg_version": "fifteen"}, "pg_tune: pg_version must be an integer"),
    ("pg_tune", (4096,), {"cpus": 2, "shared_buffers": "1GB"}, "pg_tune: got an unexpected keyword argument"),
    ("pg_cluster_settings", ([2, "x"],), {"web_concurrency": 4}, r"pg_cluster_settings: db_cpus\[1\] must be"),
    ("haproxy_maxconn", (64,), {"server_concurrency": {"web1": "a"}},
     r"haproxy_maxconn: server_concurrency\[web1\] must be an integer"),
    ("memcached_settings", (64,), {"cpus": 1, "dedicated": "perhaps"}, "memcached_settings: "),
    ("rabbitmq_memory", (64,), {"watermark": "lots"}, "rabbitmq_memory: watermark must be"),
    ("cluster_plan", ({"web1": {}}, {"webservers": ["web1"]}), {},
     "cluster_plan: host web1: its RAM and CPU count are unknown"),
    ("cluster_plan", ({"web1": {"django_deploy_host_memory_mb": 2048, "django_deploy_host_cpus": 2,
                                "gunicorn_workers": "abc"}}, {"webservers": ["web1"]}), {},
     "cluster_plan: host web1: gunicorn_workers must be an integer, got str 'abc'"),
])
def test_bad_input_is_an_ansible_filter_error_naming_the_argument(name, args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](*args, **kwargs)


@pytest.mark.parametrize("name, args, kwargs, expected", [
    ("pg_tune", ("4096",), {"cpus": "2", "max_connections": "200", "pg_version": "16"},
     tuning.pg_tune(4096, 2, 200, 16)),
    ("gunicorn_workers", (4096.0,), {"cpus": 2, "workers": "12"}, tuning.gunicorn_workers(4096, 2, workers=12)),
    ("memcached_settings", (1024,), {"cpus": 8, "dedicated": "yes"}, tuning.memcached_settings(1024, 8, dedicated=True)),
    ("host_services", (["webservers", "mine"], "mod_wsgi"), {}, ["mod_wsgi", "nginx"]),
    ("host_budget", (2048, ["postgresql"]), {}, {"postgresql": 1728, "os_reserve": 320}),
    ("pg_cluster_settings", (["4", 2],), {"web_concurrency": "40", "celery_concurrency": 2, "celery_beat": 1},
     plan.pg_cluster_settings([4, 2], 40, 2, 1)),
    ("haproxy_maxconn", (64,), {"server_concurrency": {"web1": "5"}}, tuning.haproxy_maxconn(64, {"web1": 5})),
    ("celery_concurrency", ("2048",), {"cpus": 4}, 4),
])
def test_filters_coerce_strings_from_the_inventory(name, args, kwargs, expected):
    assert FILTERS[name](*args, **kwargs) == expected


@pytest.mark.parametrize("undefined", [Undefined(name="memtotal"), StrictUndefined(name="memtotal")])
def test_undefined_passes_through(undefined):
    assert FILTERS["pg_tune"](undefined, cpus=2) is undefined
    assert FILTERS["gunicorn_workers"](4096, cpus=undefined) is undefined


def test_cluster_plan_filter_reads_hostvars_and_groups():
    hostvars = {
        "vps1": {"django_deploy_host_memory_mb": 2048, "django_deploy_host_cpus": 2, "gunicorn_workers": "2"},
        "other": {},
    }
    groups = {"all": ["vps1", "other"], "webservers": ["vps1"], "db_primary": ["vps1"], "other_group": ["other"]}
    result = FILTERS["cluster_plan"](hostvars, groups)
    assert sorted(result["hosts"]) == ["vps1"]
    assert result["hosts"]["vps1"]["gunicorn"]["workers"] == 2
    assert result["totals"]["web_concurrency"] == 8
