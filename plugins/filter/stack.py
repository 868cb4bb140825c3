# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack_model filter: reads the inventory, hands it to plugins/module_utils/stack.py.

Only the variables and facts the model reads are taken from hostvars (reading a variable
templates it), with where each was set when Ansible knows it (2.19's origin tags), so an error
can say "set in group_vars/all.yml line 12". The documentation is in stack_model.yml.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.django_deploy.stack.plugins.module_utils import plan, stack

try:  # ansible-core >= 2.19 tags values with where they came from
    from ansible._internal._datatag._tags import Origin  # pylint: disable=import-error,no-name-in-module
except ImportError:  # pragma: no cover - older ansible-core: messages just say less
    Origin = None

SECRETS = ("postgresql_app_password", "django_app_secret_key", "postgresql_replication_password",
           "rabbitmq_app_password", "redis_password", "pgbackrest_cipher_pass", stack.POOLER_AUTH_SECRET)
_VARS = tuple(dict.fromkeys((*stack.RULES, *stack.PUBLIC_DEFAULTS, *stack.DERIVED, *plan.OVERRIDE_VARS,
                             *plan.SIZE_VARS)))
_FACTS = ("default_ipv4", "memtotal_mb", "processor_vcpus", "distribution_major_version", "hostname", "mounts",
          "machine")


def _origin(value: Any) -> str:
    tag = Origin.get_tag(value) if Origin is not None else None
    if tag is None or not getattr(tag, "path", None):
        return ""
    line = getattr(tag, "line_num", None)
    return f"{tag.path} line {line}" if line else str(tag.path)


def _plain(value: Any) -> Any:
    """Ansible's tagged values as plain Python ones (the model keeps no Ansible types)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _inventory(hostvars: Any, groups: Mapping[str, Any], with_facts: bool) -> tuple[dict, dict, dict]:
    """(variables, facts, origins) of every host of our groups, as plain values."""
    names = {h for g in stack.GROUPS for h in (groups.get(g) or ())}
    hosts: dict[str, dict[str, Any]] = {}
    facts: dict[str, dict[str, Any]] = {}
    origins: dict[str, dict[str, str]] = {}
    for host in sorted(names):
        hvars = hostvars[host]
        hosts[host], origins[host] = {}, {}
        for name in _VARS + SECRETS:
            if name in hvars:
                value = hvars[name]
                hosts[host][name] = value if name in SECRETS else _plain(value)
                where = _origin(value)
                if where:
                    origins[host][name] = where
        if with_facts:
            given = hvars["ansible_facts"] if "ansible_facts" in hvars else {}
            facts[host] = {k: _plain(given[k]) for k in _FACTS if k in given}
    return hosts, facts, origins


def stack_check(hostvars: Any, groups: Mapping[str, Any], primary: str | None = None) -> list[str]:
    """hostvars | stack_check(groups): what the inventory alone says is wrong, one line each;
    reads no fact, so it runs before any host is contacted."""
    hosts, _facts, origins = _inventory(hostvars, groups, with_facts=False)
    try:
        return stack.inventory_problems(hosts, _plain(dict(groups)), origins, primary=primary or None)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"stack_check: {exc}") from None


def stack_model(hostvars: Any, groups: Mapping[str, Any], primary: str | None = None,
                require_addresses: bool = True) -> dict[str, Any]:
    """hostvars | stack_model(groups): the model of the stack, or {'problems': [...]}: one line
    per problem (returned, not raised, so the play prints them as they are, not under the
    templating error's "caused by" levels)."""
    hosts, facts, origins = _inventory(hostvars, groups, with_facts=True)
    try:
        return stack.stack_model(hosts, _plain(dict(groups)), facts, origins, primary=primary or None,
                                 require_addresses=require_addresses)
    except stack.StackError as exc:
        return {"problems": exc.problems}
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"stack_model: {exc}") from None


def stack_flows_text(model: Mapping[str, Any]) -> str:
    """django_deploy_stack | stack_flows_text: the model's connections, one line per server port."""
    try:
        return stack.flows_text(model)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"stack_flows_text: not a stack model ({exc})") from None


class FilterModule:
    """django_deploy.stack's model of the stack."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"stack_model": stack_model, "stack_check": stack_check, "stack_flows_text": stack_flows_text}
