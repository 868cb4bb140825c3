# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan_text filter: a thin wrapper over plugins/module_utils/plan_text.py.

TypeError/ValueError from the pure function become an AnsibleFilterError naming the filter;
undefined values are returned as they are, as the other filters of the collection do. The
documentation is in the adjacent plan_text.yml.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from jinja2 import Undefined

from ansible_collections.django_deploy.stack.plugins.module_utils import plan_text as _plan_text


def plan_text(plan: Any, labels: Any = None) -> Any:
    """cluster_plan's result | plan_text(labels): the plan as tables for a person."""
    for value in (plan, labels):
        if isinstance(value, Undefined):
            return value
    try:
        return _plan_text.plan_text(plan, labels)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"plan_text: {exc}") from exc


class FilterModule:
    """django_deploy.stack plan_text filter."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"plan_text": plan_text}
