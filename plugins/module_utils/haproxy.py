"""HAProxy runtime API helpers: what `show stat` and `show servers state` say about one server,
and whether a drain or a return to rotation is done.

Pure Python (no Ansible, no socket), so the module haproxy_server and its unit tests agree on
the same rules. Field names and admin-state bits are HAProxy's own (management guide, sections
"show stat" and "show servers state"; include/haproxy/server-t.h for the SRV_ADMF_* bits).
"""

from __future__ import annotations

from typing import Any, Mapping

# srv_admin_state bits of `show servers state`.
ADMIN_FMAINT = 0x01  # forced into maintenance (set server ... state maint)
ADMIN_IMAINT = 0x02  # inherits maintenance from a tracked server
ADMIN_CMAINT = 0x04  # maintenance from the configuration (disabled)
ADMIN_FDRAIN = 0x08  # forced into drain (set server ... state drain)
ADMIN_IDRAIN = 0x10  # inherits drain from a tracked server
ADMIN_RMAINT = 0x20  # maintenance because its address does not resolve
ADMIN_HMAINT = 0x40  # maintenance because its address was changed at runtime
ADMIN_MAINT = ADMIN_FMAINT | ADMIN_IMAINT | ADMIN_CMAINT | ADMIN_RMAINT | ADMIN_HMAINT
ADMIN_DRAIN = ADMIN_FDRAIN | ADMIN_IDRAIN

STATES = ("ready", "drain", "maint")


def parse_stat(text: str) -> list[dict[str, str]]:
    """`show stat` CSV -> one dict per proxy or server line, keyed by the header's field names."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError("not the output of 'show stat': no '# pxname,...' header line")
    header = lines[0][2:].split(",")
    rows = []
    for line in lines[1:]:
        values = line.split(",")
        rows.append(dict(zip(header, values + [""] * (len(header) - len(values)))))
    return rows


def parse_servers_state(text: str) -> list[dict[str, str]]:
    """`show servers state [backend]` -> one dict per server, keyed by the header's field names.

    The output is a format version line ("1"), a '# be_id be_name ...' header, then one
    space-separated line per server.
    """
    lines = [line for line in (text or "").splitlines() if line.strip()]
    header = next((line[2:].split() for line in lines if line.startswith("# ")), None)
    if header is None or "srv_admin_state" not in header:
        raise ValueError("not the output of 'show servers state': no '# be_id be_name ...' header line")
    rows = []
    for line in lines:
        if line.startswith("#") or len(line.split()) < 2:
            continue
        rows.append(dict(zip(header, line.split())))
    return rows


def find(rows: list[Mapping[str, str]], backend: str, server: str, backend_key: str,
         server_key: str) -> Mapping[str, str] | None:
    """The row of backend/server, or None."""
    return next((row for row in rows if row.get(backend_key) == backend and row.get(server_key) == server), None)


def admin_state(value: str | int) -> int:
    """srv_admin_state as an int (it is printed in decimal)."""
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"srv_admin_state must be an integer, got {value!r}") from exc


def admin_matches(state: str, admin: int) -> bool:
    """True when the server's forced admin state is already the one `set server ... state` sets."""
    if state == "ready":
        return not admin & (ADMIN_FMAINT | ADMIN_FDRAIN)
    if state == "drain":
        return bool(admin & ADMIN_FDRAIN) and not admin & ADMIN_FMAINT
    if state == "maint":
        return bool(admin & ADMIN_FMAINT)
    raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")


def sessions(stat_row: Mapping[str, Any]) -> int:
    """Requests the server is serving now plus those queued for it (scur + qcur)."""
    return sum(int(stat_row.get(key) or 0) for key in ("scur", "qcur"))


def is_up(status: str) -> bool:
    """`show stat` status of a server that takes traffic: "UP", or "no check" (never checked).

    "UP 1/3" is a server that failed a check and is on its way down: not up yet for our purpose.
    """
    return status in ("UP", "no check")


def others_up(stat_rows: list[Mapping[str, str]], backend: str, server: str) -> list[str]:
    """Names of the backend's other servers that take traffic now (UP and not draining)."""
    return [row["svname"] for row in stat_rows
            if row.get("pxname") == backend and row.get("svname") not in (server, "FRONTEND", "BACKEND")
            and is_up(row.get("status", ""))]


def reached(state: str, stat_row: Mapping[str, Any]) -> bool:
    """Whether what `state` waits for is true: no session left (drain, maint), or UP (ready)."""
    if state in ("drain", "maint"):
        return sessions(stat_row) == 0
    if state == "ready":
        return is_up(str(stat_row.get("status", "")))
    raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")


def summary(stat_row: Mapping[str, Any], admin: int) -> dict[str, Any]:
    """What the module returns about the server."""
    return {
        "status": stat_row.get("status", ""),
        "admin_state": admin,
        "drain": bool(admin & ADMIN_DRAIN),
        "maint": bool(admin & ADMIN_MAINT),
        "sessions": int(stat_row.get("scur") or 0),
        "queued": int(stat_row.get("qcur") or 0),
        "total_sessions": int(stat_row.get("stot") or 0),
    }
