# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tuning filters: thin wrappers over plugins/module_utils/tuning.py and plan.py.

Each filter binds its arguments to the pure function's signature, coerces numeric ones (so
'-e gunicorn_workers=12' strings work), calls it, and turns TypeError/ValueError into an
AnsibleFilterError that names the filter and the argument. Undefined values are returned as
they are, as the filter docs ask (ansible-core >= 2.19 already skips the call for them). The
documentation of each filter is in the adjacent <filter_name>.yml.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.django_deploy.stack.plugins.plugin_utils.filters import pure_filter
from ansible_collections.django_deploy.stack.plugins.module_utils import plan, tuning

# Arguments that are integers in every filter that takes them.
_INT_ARGS = frozenset((
    "memory_mb", "cpus", "max_connections", "pg_version", "worker_memory_mb", "workers", "threads",
    "max_workers", "process_memory_mb", "processes", "child_memory_mb", "client_connections",
    "total_memory_mb", "maxconn", "worker_processes", "worker_connections", "web_concurrency",
    "celery_concurrency", "celery_beat", "disk_mb",
))


def _coerce(arguments: dict[str, Any]) -> None:
    """Coerce the bound arguments in place; errors name the argument."""
    for name, value in arguments.items():
        if value is None:
            continue
        if name in _INT_ARGS:
            arguments[name] = tuning.coerce_int(name, value)
        elif name == "dedicated":
            arguments[name] = boolean(value, strict=True)
        elif name == "db_cpus" and isinstance(value, (list, tuple)):
            arguments[name] = [tuning.coerce_int(f"db_cpus[{i}]", cpu) for i, cpu in enumerate(value)]
        elif name == "server_concurrency" and isinstance(value, dict):
            arguments[name] = {host: tuning.coerce_int(f"server_concurrency[{host}]", conc)
                               for host, conc in value.items()}


def _filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter `name` over the pure function `func`, its arguments coerced by _coerce."""
    return pure_filter(name, func, _coerce)


def _cluster_plan(hostvars: Any, groups: Any) -> dict[str, Any]:
    """hostvars | cluster_plan(groups): extract sizes, groups and overrides, then plan."""
    return plan.cluster_plan(plan.hosts_from_inventory(hostvars, groups))


_FILTERS = {
    "host_services": tuning.host_services,
    "host_budget": tuning.host_budget,
    "pg_tune": tuning.pg_tune,
    "pg_cluster_settings": plan.pg_cluster_settings,
    "gunicorn_workers": tuning.gunicorn_workers,
    "mod_wsgi_daemon": tuning.mod_wsgi_daemon,
    "apache_mpm": tuning.apache_mpm,
    "memcached_settings": tuning.memcached_settings,
    "rabbitmq_memory": tuning.rabbitmq_memory,
    "celery_concurrency": tuning.celery_concurrency,
    "haproxy_maxconn": tuning.haproxy_maxconn,
    "nginx_workers": tuning.nginx_workers,
    "cluster_plan": _cluster_plan,
}


class FilterModule:
    """django_deploy.stack tuning filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {name: _filter(name, func) for name, func in _FILTERS.items()}
