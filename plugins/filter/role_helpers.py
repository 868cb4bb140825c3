# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role helper filters: thin wrappers over plugins/module_utils/role_helpers.py.

Each filter binds its arguments to the pure function's signature, coerces the few that Ansible
may hand over as strings ('-e django_app_releases_keep=5'), calls it, and turns TypeError and
ValueError into an AnsibleFilterError that names the filter. Undefined values are returned as
they are (ansible-core >= 2.19 already skips the call for them). The documentation of each
filter is in the adjacent <filter_name>.yml.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.django_deploy.stack.plugins.plugin_utils.filters import pure_filter
from ansible_collections.django_deploy.stack.plugins.module_utils import role_helpers


def _coerce(arguments: dict[str, Any]) -> None:
    """Coerce the bound arguments in place; errors name the argument."""
    if "keep" in arguments and isinstance(arguments["keep"], str):
        try:
            arguments["keep"] = int(arguments["keep"], 10)
        except ValueError:
            raise ValueError(f"keep must be an integer, got {arguments['keep']!r}") from None


def _filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter `name` over the pure function `func`, its arguments coerced by _coerce."""
    return pure_filter(name, func, _coerce)


_FILTERS = {
    "rabbitmq_state": role_helpers.rabbitmq_state,
    "releases_to_remove": role_helpers.releases_to_remove,
    "pgpass_line": role_helpers.pgpass_line,
    "bad_sysctls": role_helpers.bad_sysctls,
    "missing_packages": role_helpers.missing_packages,
    "in_networks": role_helpers.in_networks,
    "certificate_problems": role_helpers.certificate_problems,
    "restore_plan": role_helpers.restore_plan,
}


class FilterModule:
    """django_deploy.stack role helper filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {name: _filter(name, func) for name, func in _FILTERS.items()}
