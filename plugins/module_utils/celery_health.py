# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether Celery's units on a host are healthy (module celery_health): the pure part, tested on
its own. A unit is healthy when systemd has it active and running, and, across the settle
window after a restart, with the same main process and no automatic restart; a worker is healthy
when it also answers `celery inspect ping`.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

# What `systemctl show` is asked for.
SHOW_PROPERTIES = ("ActiveState", "SubState", "NRestarts", "MainPID")


def parse_show(text: str) -> dict[str, str]:
    """`systemctl show -p ActiveState,SubState,NRestarts,MainPID UNIT` -> {property: value}."""
    if not isinstance(text, str):
        raise TypeError("text must be systemctl show's output")
    state = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in SHOW_PROPERTIES:
            state[key] = value.strip()
    return state


def unit_problem(before: Mapping[str, str], after: Mapping[str, str], settle: int) -> str | None:
    """What is wrong with a unit, from its state before and after the settle window (the same
    state twice when there was none), or None when it runs."""
    state = f"{after.get('ActiveState', '?')} ({after.get('SubState', '?')})"
    if after.get("ActiveState") != "active" or after.get("SubState") != "running":
        return f"is {state}, not active (running)"
    restarts = _int(after.get("NRestarts")) - _int(before.get("NRestarts"))
    if restarts > 0:
        return f"restarted {restarts} time{'s' if restarts > 1 else ''} by itself within {settle} s"
    if before.get("MainPID") != after.get("MainPID"):
        return f"changed its main process within {settle} s (from {before.get('MainPID')} to {after.get('MainPID')})"
    return None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def ping_answered(stdout: str, node: str) -> bool:
    """Whether `celery inspect ping --json` printed node's pong ({"node": {"ok": "pong"}})."""
    try:
        replies = json.loads((stdout or "").strip().splitlines()[-1])
    except (IndexError, ValueError):
        return False
    reply = replies.get(node) if isinstance(replies, dict) else None
    return isinstance(reply, dict) and reply.get("ok") == "pong"


def node_name(template: str, hostname: str) -> str:
    """A worker's node name as its unit gives it (--hostname pool@%H, systemd's %H the host name)."""
    if not isinstance(template, str) or "@" not in template:
        raise ValueError(f"node must be name@host, got {template!r}")
    return template.replace("%H", hostname).replace("%h", hostname)


def failure_message(host: str, problems: Mapping[str, str], journals: Mapping[str, str], lines: int = 15) -> str:
    """One message naming the host, each failed unit, what is wrong and the end of its log."""
    parts = [f"Celery is not healthy on {host}:"]
    for unit, problem in problems.items():
        tail = [line for line in (journals.get(unit) or "").splitlines() if line.strip()][-lines:]
        parts.append(f"- {unit} {problem}." + (" Its log ends with:\n    " + "\n    ".join(tail) if tail else ""))
    return "\n".join(parts)
