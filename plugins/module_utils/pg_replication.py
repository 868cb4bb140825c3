"""Streaming replication helpers: LSNs, lag, slot names, conninfo and the decisions built on them.

Pure Python (no Ansible, no psycopg2, no I/O), so the module pg_replication_info, the role and
promote.yml agree on the same rules and pytest checks them with plain tables.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

# Slots PostgreSQL accepts: lowercase letters, digits and underscores, at most NAMEDATALEN-1.
SLOT_NAME_MAX = 63
_SLOT_BAD = re.compile(r"[^a-z0-9_]")
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
# pg_replication_slots.wal_status values that mean the slot no longer protects its standby's
# WAL ('unreserved': about to lose it; 'lost': lost, the standby must be re-seeded).
SLOT_AT_RISK = ("unreserved", "lost")
# initdb's default WAL segment size (pg_controldata's "Bytes per WAL segment").
WAL_SEGMENT_BYTES = 16 * 1024 * 1024


def parse_lsn(lsn: str | None) -> int | None:
    """'16/B374D848' -> byte position; None stays None (a standby that has not reported yet)."""
    if lsn is None:
        return None
    if not isinstance(lsn, str):
        raise TypeError(f"an LSN is a string such as '0/3000060', got {type(lsn).__name__}")
    match = _LSN.match(lsn.strip())
    if not match:
        raise ValueError(f"not an LSN: {lsn!r} (expected two hex numbers as in '0/3000060')")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(position: int) -> str:
    """Byte position -> PostgreSQL's 'X/X' text form."""
    if isinstance(position, bool) or not isinstance(position, int) or position < 0 or position >= 1 << 64:
        raise ValueError(f"an LSN position is an integer in [0, 2**64), got {position!r}")
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def lag_bytes(ahead: str | None, behind: str | None) -> int | None:
    """Bytes from behind to ahead, never negative; None when either side is unknown."""
    a, b = parse_lsn(ahead), parse_lsn(behind)
    if a is None or b is None:
        return None
    return max(0, a - b)


def wal_segments(start_lsn: str, end_lsn: str, timeline: int | str, segment_bytes: int | str = WAL_SEGMENT_BYTES,
                 end_margin: int | str = 0) -> list[str]:
    """Names of the WAL segment files of `timeline` that hold the bytes from start_lsn through
    end_lsn + end_margin, in order, as PostgreSQL names them in pg_wal (pg_walfile_name()):
    ('0/3221860', '0/3263A50', 1) -> ['000000010000000000000003']. Empty when start is past
    the end. timeline and segment_bytes (pg_controldata's "Latest checkpoint's TimeLineID" and
    "Bytes per WAL segment") may be decimal text; segment_bytes is a power of two from 1 MiB
    to 1 GiB, as initdb --wal-segsize allows."""
    numbers = {}
    for name, value in (("timeline", timeline), ("segment_bytes", segment_bytes), ("end_margin", end_margin)):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        numbers[name] = value
    size = numbers["segment_bytes"]
    if size < 1 << 20 or size > 1 << 30 or size & (size - 1):
        raise ValueError(f"segment_bytes must be a power of two from 1 MiB to 1 GiB, got {size}")
    if not 1 <= numbers["timeline"] <= 0xFFFFFFFF:
        raise ValueError(f"timeline must be from 1 to 4294967295, got {numbers['timeline']}")
    start, end = parse_lsn(start_lsn), parse_lsn(end_lsn)
    if start is None or end is None:
        raise ValueError("start_lsn and end_lsn are required")
    end = min(end + numbers["end_margin"], (1 << 64) - 1)
    per_id = (1 << 32) // size  # segments per 4 GiB "log id", the middle 8 hex digits
    return [f"{numbers['timeline']:08X}{segment // per_id:08X}{segment % per_id:08X}"
            for segment in range(start // size, end // size + 1)] if start <= end else []


def slot_name(host: str, prefix: str = "replica_") -> str:
    """The physical slot of an inventory host: 'db-2.example' -> 'replica_db_2_example'."""
    if not isinstance(host, str) or not host:
        raise ValueError(f"a host name is a non-empty string, got {host!r}")
    if _SLOT_BAD.search(prefix):
        raise ValueError(f"slot prefix {prefix!r} must be lowercase letters, digits or _")
    name = prefix + _SLOT_BAD.sub("_", host.lower())
    if len(name) > SLOT_NAME_MAX:
        raise ValueError(f"slot name {name!r} is longer than {SLOT_NAME_MAX} characters; use a shorter prefix")
    return name


def stale_slots(existing: Iterable[str], replicas: Iterable[str], prefix: str = "replica_") -> list[str]:
    """Slots this collection owns (prefix) whose host is no longer a replica, sorted."""
    wanted = {slot_name(host, prefix) for host in replicas}
    return sorted(name for name in existing if name.startswith(prefix) and name not in wanted)


def _quote(value: Any) -> str:
    text = str(value)
    if text and not re.search(r"[\s'\\]", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(**params: Any) -> str:
    """A libpq key=value string (primary_conninfo) with values quoted as libpq expects.

    None values are left out; a 'password' key is refused: passwords belong in a passfile.
    """
    if "password" in params:
        raise ValueError("conninfo does not carry passwords; use passfile= (a .pgpass file)")
    return " ".join(f"{key}={_quote(value)}" for key, value in params.items() if value is not None)


def standby_summary(row: Mapping[str, Any], current_lsn: str) -> dict[str, Any]:
    """One pg_stat_replication row, seen from the primary, with its lag against current_lsn."""
    seconds = row.get("replay_lag_seconds")
    return {
        "application_name": row.get("application_name"),
        "client_addr": row.get("client_addr"),
        "state": row.get("state"),
        "sync_state": row.get("sync_state"),
        "slot_name": row.get("slot_name"),
        "sent_lsn": row.get("sent_lsn"),
        "replay_lsn": row.get("replay_lsn"),
        "sent_lag_bytes": lag_bytes(current_lsn, row.get("sent_lsn")),
        "replay_lag_bytes": lag_bytes(current_lsn, row.get("replay_lsn")),
        "replay_lag_seconds": None if seconds is None else float(seconds),
    }


def slot_summary(row: Mapping[str, Any], current_lsn: str | None) -> dict[str, Any]:
    """One pg_replication_slots row with the WAL it holds back and whether it is at risk."""
    status = row.get("wal_status")
    return {
        "slot_name": row.get("slot_name"),
        "slot_type": row.get("slot_type"),
        "active": bool(row.get("active")),
        "wal_status": status,
        "restart_lsn": row.get("restart_lsn"),
        "retained_bytes": lag_bytes(current_lsn, row.get("restart_lsn")) if current_lsn else None,
        "at_risk": status in SLOT_AT_RISK,
    }


def receiver_summary(row: Mapping[str, Any] | None, receive_lsn: str | None,
                     replay_lsn: str | None, replay_lag_seconds: float | None) -> dict[str, Any]:
    """A standby's WAL receiver (pg_stat_wal_receiver, None when there is none) and its replay lag."""
    row = row or {}
    return {
        "status": row.get("status"),
        "sender_host": row.get("sender_host"),
        "sender_port": row.get("sender_port"),
        "slot_name": row.get("slot_name"),
        "receive_lsn": receive_lsn,
        "replay_lsn": replay_lsn,
        "replay_lag_bytes": lag_bytes(receive_lsn, replay_lsn),
        "replay_lag_seconds": None if replay_lag_seconds is None else float(replay_lag_seconds),
    }


def primary_problems(standbys: Iterable[Mapping[str, Any]], max_lag_bytes: int | None,
                     expected: Iterable[str] = ()) -> list[str]:
    """Why a primary's standbys are not (yet) where they should be; empty when they are.

    A standby is fine when it streams and, with a bound, its replay lag is known and <= it.
    expected lists application names that must each have a row.
    """
    problems = []
    seen = set()
    for row in standbys:
        name = row.get("application_name")
        seen.add(name)
        if row.get("state") != "streaming":
            problems.append(f"{name}: state {row.get('state')}, not streaming")
        elif max_lag_bytes is not None:
            lag = row.get("replay_lag_bytes")
            if lag is None or lag > max_lag_bytes:
                problems.append(f"{name}: replay lag {lag} bytes > {max_lag_bytes}")
    problems.extend(f"{name}: not connected" for name in expected if name not in seen)
    return problems


def standby_problems(receiver: Mapping[str, Any], max_lag_bytes: int | None, require_streaming: bool = True,
                     min_replay_lsn: str | None = None) -> list[str]:
    """Why a standby is not where it should be; empty when fine.

    require_streaming=False for a standby whose primary is gone (promotion); min_replay_lsn is
    a position it must have replayed, such as the old primary's last checkpoint.
    """
    problems = []
    if require_streaming and receiver.get("status") != "streaming":
        problems.append(f"WAL receiver status {receiver.get('status')}, not streaming")
    if max_lag_bytes is not None:
        lag = receiver.get("replay_lag_bytes")
        if lag is None or lag > max_lag_bytes:
            problems.append(f"replay lag {lag} bytes > {max_lag_bytes}")
    if min_replay_lsn is not None:
        missing = lag_bytes(min_replay_lsn, receiver.get("replay_lsn"))
        if missing is None or missing > 0:
            problems.append(f"replayed up to {receiver.get('replay_lsn')}, not yet {min_replay_lsn}")
    return problems


def promotion_decision(lag: int | None, max_lag_bytes: int, force: bool = False) -> tuple[bool, str]:
    """May a standby with this replay lag be promoted? (allowed, reason).

    Unknown lag counts as too much: with asynchronous replication the lag is what promotion loses.
    """
    if isinstance(max_lag_bytes, bool) or not isinstance(max_lag_bytes, int) or max_lag_bytes < 0:
        raise ValueError(f"max_lag_bytes must be an integer >= 0, got {max_lag_bytes!r}")
    if lag is not None and lag <= max_lag_bytes:
        return True, f"replay lag {lag} bytes <= {max_lag_bytes}"
    shown = "unknown" if lag is None else f"{lag} bytes"
    if force:
        return True, f"replay lag {shown} > {max_lag_bytes}, promoted anyway (force)"
    return False, (f"replay lag {shown} > {max_lag_bytes}: promoting now would lose those writes; "
                   "wait, raise the bound, or force")
