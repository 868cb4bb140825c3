# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replication filters: thin wrappers over plugins/module_utils/pg_replication.py.

The pure function coerces its own numeric arguments (pg_controldata's figures arrive as text);
the wrapper binds the arguments and turns TypeError/ValueError into an AnsibleFilterError that
names the filter. The documentation of each filter is in the adjacent <filter_name>.yml.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.django_deploy.stack.plugins.plugin_utils.filters import pure_filter
from ansible_collections.django_deploy.stack.plugins.module_utils import pg_replication

_FILTERS = {
    "wal_segments": pg_replication.wal_segments,
}


class FilterModule:
    """django_deploy.stack replication filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {name: pure_filter(name, func) for name, func in _FILTERS.items()}
