# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every filter of the collection does around its pure function (controller side only)."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from jinja2 import Undefined


def pure_filter(name: str, func: Callable[..., Any],
                coerce: Callable[[dict[str, Any]], None] | None = None) -> Callable[..., Any]:
    """The filter `name` over the pure function `func`: undefined values pass through (as the
    filter docs ask), the arguments are bound to func's signature and coerced in place by
    `coerce`, and TypeError/ValueError become an AnsibleFilterError naming the filter."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, Undefined):
                return value
        try:
            bound = signature.bind(*args, **kwargs)
            if coerce is not None:
                coerce(bound.arguments)
            return func(*bound.args, **bound.kwargs)
        except (TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"{name}: {exc}") from exc

    wrapper.__name__ = name
    return wrapper
