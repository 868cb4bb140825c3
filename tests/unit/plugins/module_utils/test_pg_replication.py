"""The pure replication helpers behind pg_replication_info, the role and promote.yml."""
from __future__ import annotations

import pytest

from ansible_collections.django_deploy.stack.plugins.module_utils import pg_replication as rep


@pytest.mark.parametrize("text, position", [
    ("0/0", 0),
    ("0/3000060", 0x3000060),
    ("16/B374D848", (0x16 << 32) | 0xB374D848),
    (" 1/0 ", 1 << 32),
    ("FFFFFFFF/FFFFFFFF", (1 << 64) - 1),
    (None, None),
])
def test_parse_lsn(text, position):
    assert rep.parse_lsn(text) == position


@pytest.mark.parametrize("bad", ["", "0", "0/", "/1", "G/0", "0/123456789", "1/2/3"])
def test_parse_lsn_rejects_what_is_not_an_lsn(bad):
    with pytest.raises(ValueError, match="not an LSN"):
        rep.parse_lsn(bad)


def test_parse_lsn_rejects_non_strings():
    with pytest.raises(TypeError):
        rep.parse_lsn(123)


@pytest.mark.parametrize("position", [0, 1, 0x3000060, (0x16 << 32) | 0xB374D848, (1 << 64) - 1])
def test_format_lsn_round_trips(position):
    assert rep.parse_lsn(rep.format_lsn(position)) == position


@pytest.mark.parametrize("bad", [-1, 1 << 64, True, "0/0", 1.5])
def test_format_lsn_rejects(bad):
    with pytest.raises(ValueError):
        rep.format_lsn(bad)


@pytest.mark.parametrize("ahead, behind, lag", [
    ("0/3000060", "0/3000000", 0x60),
    ("1/0", "0/FFFFFFFF", 1),
    ("0/3000000", "0/3000060", 0),  # a standby reporting ahead (sampling skew) is not negative lag
    ("0/3000000", None, None),
    (None, "0/3000000", None),
])
def test_lag_bytes(ahead, behind, lag):
    assert rep.lag_bytes(ahead, behind) == lag


@pytest.mark.parametrize("host, prefix, slot", [
    ("db2", "replica_", "replica_db2"),
    ("DB-2.example.com", "replica_", "replica_db_2_example_com"),
    ("db3", "", "db3"),
    ("10.0.0.7", "r_", "r_10_0_0_7"),
])
def test_slot_name(host, prefix, slot):
    assert rep.slot_name(host, prefix) == slot


@pytest.mark.parametrize("host, prefix, message", [
    ("", "replica_", "non-empty"),
    ("db2", "Replica-", "prefix"),
    ("h" * 60, "replica_", "longer than 63"),
])
def test_slot_name_rejects(host, prefix, message):
    with pytest.raises(ValueError, match=message):
        rep.slot_name(host, prefix)


def test_stale_slots_only_ours_and_only_departed_hosts():
    existing = ["replica_db2", "replica_db3", "replica_old_db", "barman", "logical_sub"]
    assert rep.stale_slots(existing, ["db2", "db3"]) == ["replica_old_db"]
    assert rep.stale_slots(existing, []) == ["replica_db2", "replica_db3", "replica_old_db"]
    assert rep.stale_slots(["replica_db2"], ["DB2"]) == []


@pytest.mark.parametrize("params, text", [
    ({"host": "10.0.0.5", "port": 5432, "user": "replicator"}, "host=10.0.0.5 port=5432 user=replicator"),
    ({"host": "db1", "application_name": "my app"}, "host=db1 application_name='my app'"),
    ({"passfile": "/var/lib/post'gres/.pgpass"}, "passfile='/var/lib/post\\'gres/.pgpass'"),
    ({"options": "a\\b"}, "options='a\\\\b'"),
    ({"host": "db1", "sslmode": None}, "host=db1"),
    ({"application_name": ""}, "application_name=''"),
])
def test_conninfo_quotes_as_libpq_expects(params, text):
    assert rep.conninfo(**params) == text


def test_conninfo_refuses_passwords():
    with pytest.raises(ValueError, match="passfile"):
        rep.conninfo(host="db1", password="secret")


def _row(name, state="streaming", replay="0/3000000", sent="0/3000000", seconds=None):
    return {"application_name": name, "client_addr": "10.0.0.2", "state": state, "sync_state": "async",
            "slot_name": f"replica_{name}", "sent_lsn": sent, "replay_lsn": replay, "replay_lag_seconds": seconds}


def test_standby_summary_measures_lag_from_the_primary_position():
    summary = rep.standby_summary(_row("db2", replay="0/2FFFF00", sent="0/3000000", seconds="0.25"), "0/3000100")
    assert summary["replay_lag_bytes"] == 0x200 and summary["sent_lag_bytes"] == 0x100
    assert summary["replay_lag_seconds"] == 0.25
    assert set(summary) == {"application_name", "client_addr", "state", "sync_state", "slot_name", "sent_lsn",
                            "replay_lsn", "sent_lag_bytes", "replay_lag_bytes", "replay_lag_seconds"}
    assert rep.standby_summary(_row("db3", replay=None), "0/1")["replay_lag_bytes"] is None


@pytest.mark.parametrize("status, at_risk", [
    ("reserved", False), ("extended", False), ("unreserved", True), ("lost", True), (None, False),
])
def test_slot_summary(status, at_risk):
    row = {"slot_name": "replica_db2", "slot_type": "physical", "active": 0, "wal_status": status,
           "restart_lsn": "0/1000000"}
    summary = rep.slot_summary(row, "0/1000400")
    assert summary["at_risk"] is at_risk and summary["active"] is False
    assert summary["retained_bytes"] == 0x400
    assert rep.slot_summary(row, None)["retained_bytes"] is None


def test_receiver_summary_with_and_without_a_receiver():
    row = {"status": "streaming", "sender_host": "10.0.0.1", "sender_port": 5432, "slot_name": "replica_db2"}
    summary = rep.receiver_summary(row, "0/3000100", "0/3000000", 1)
    assert summary["replay_lag_bytes"] == 0x100 and summary["replay_lag_seconds"] == 1.0
    assert summary["sender_host"] == "10.0.0.1"
    empty = rep.receiver_summary(None, None, "0/3000000", None)
    assert empty["status"] is None and empty["replay_lag_bytes"] is None


@pytest.mark.parametrize("standbys, bound, expected, problems", [
    ([], None, [], []),
    ([], None, ["db2"], ["db2: not connected"]),
    ([{"application_name": "db2", "state": "streaming", "replay_lag_bytes": 10}], 16, ["db2"], []),
    ([{"application_name": "db2", "state": "streaming", "replay_lag_bytes": 17}], 16, ["db2"],
     ["db2: replay lag 17 bytes > 16"]),
    ([{"application_name": "db2", "state": "streaming", "replay_lag_bytes": None}], 16, [],
     ["db2: replay lag None bytes > 16"]),
    ([{"application_name": "db2", "state": "streaming", "replay_lag_bytes": 10 ** 9}], None, ["db2"], []),
    ([{"application_name": "db2", "state": "catchup", "replay_lag_bytes": 0}], 16, ["db2", "db3"],
     ["db2: state catchup, not streaming", "db3: not connected"]),
])
def test_primary_problems(standbys, bound, expected, problems):
    assert rep.primary_problems(standbys, bound, expected) == problems


@pytest.mark.parametrize("receiver, bound, problems", [
    ({"status": "streaming", "replay_lag_bytes": 0}, 0, []),
    ({"status": "streaming", "replay_lag_bytes": 5}, None, []),
    ({"status": "streaming", "replay_lag_bytes": 5}, 4, ["replay lag 5 bytes > 4"]),
    ({"status": None, "replay_lag_bytes": 0}, 0, ["WAL receiver status None, not streaming"]),
    ({"status": "stopping", "replay_lag_bytes": None}, 0,
     ["WAL receiver status stopping, not streaming", "replay lag None bytes > 0"]),
])
def test_standby_problems(receiver, bound, problems):
    assert rep.standby_problems(receiver, bound) == problems


@pytest.mark.parametrize("lag, bound, force, allowed, reason", [
    (0, 0, False, True, "<= 0"),
    (16, 16, False, True, "<= 16"),
    (17, 16, False, False, "would lose"),
    (17, 16, True, True, "force"),
    (None, 16, False, False, "unknown"),
    (None, 16, True, True, "unknown"),
])
def test_promotion_decision(lag, bound, force, allowed, reason):
    ok, why = rep.promotion_decision(lag, bound, force)
    assert ok is allowed and reason in why


@pytest.mark.parametrize("bound", [-1, True, "16", None])
def test_promotion_decision_rejects_bad_bounds(bound):
    with pytest.raises(ValueError):
        rep.promotion_decision(0, bound)


@pytest.mark.parametrize("replay, target, streaming, problems", [
    ("0/3000000", "0/3000000", False, []),
    ("0/3000100", "0/3000000", False, []),
    ("0/2FFFFFF", "0/3000000", False, ["replayed up to 0/2FFFFFF, not yet 0/3000000"]),
    (None, "0/3000000", False, ["replayed up to None, not yet 0/3000000"]),
    ("0/3000000", None, True, ["WAL receiver status None, not streaming"]),
])
def test_standby_problems_for_promotion(replay, target, streaming, problems):
    receiver = {"status": None, "replay_lsn": replay, "replay_lag_bytes": 0}
    assert rep.standby_problems(receiver, None, require_streaming=streaming, min_replay_lsn=target) == problems


# --- wal_segments: the files promote.yml copies from a fenced old primary ----------------------

@pytest.mark.parametrize("start, end, timeline, size, margin, names", [
    # The drill's numbers: a replica at 0/3221860, the shutdown checkpoint at 0/3263A50 (whose
    # "Latest checkpoint's REDO WAL file" pg_controldata printed as 000000010000000000000003).
    ("0/3221860", "0/3263A50", 1, 16 << 20, 0, ["000000010000000000000003"]),
    ("0/3263A50", "0/3263A50", "1", "16777216", "256", ["000000010000000000000003"]),
    # A gap across a segment boundary, and a checkpoint whose record may run into the next one.
    ("0/2FFFF00", "0/3000100", 1, 16 << 20, 0, ["000000010000000000000002", "000000010000000000000003"]),
    ("0/3FFFFC0", "0/3FFFFC0", 1, 16 << 20, 256, ["000000010000000000000003", "000000010000000000000004"]),
    # The log id (the middle 8 digits) turns over every 4 GiB; timelines and sizes other than the defaults.
    ("0/FF000010", "1/00000010", 2, 16 << 20, 0, ["0000000200000000000000FF", "000000020000000100000000"]),
    ("16/B374D848", "16/B374D848", 0x1A, 1 << 30, 0, ["0000001A0000001600000002"]),
    ("0/100000", "0/2FFFFF", 1, 1 << 20, 0, ["000000010000000000000001", "000000010000000000000002"]),
    # Nothing to copy when the start is already past the end.
    ("0/3263AC8", "0/3263A50", 1, 16 << 20, 0, []),
])
def test_wal_segments(start, end, timeline, size, margin, names):
    assert rep.wal_segments(start, end, timeline, size, margin) == names


@pytest.mark.parametrize("position", [0, 0x3263A50, 0xFFFFFFFF, (0x16 << 32) | 0xB374D848, (1 << 40) + 5])
@pytest.mark.parametrize("size", [1 << 20, 16 << 20, 1 << 30])
def test_wal_segments_names_as_pg_walfile_name(position, size):
    # pg_walfile_name(): timeline, then the segment number split at 4 GiB ("log id" and segment).
    segment = position // size
    expected = "%08X%08X%08X" % (7, segment // ((1 << 32) // size), segment % ((1 << 32) // size))
    lsn = rep.format_lsn(position)
    assert rep.wal_segments(lsn, lsn, 7, size) == [expected]


@pytest.mark.parametrize("kwargs, message", [
    ({"segment_bytes": 3 << 20}, "power of two"),
    ({"segment_bytes": 1 << 19}, "power of two"),
    ({"segment_bytes": 2 << 30}, "power of two"),
    ({"timeline": 0}, "timeline must be from 1"),
    ({"timeline": -1}, "timeline must be a non-negative integer"),
    ({"timeline": "one"}, "timeline must be a non-negative integer"),
    ({"end_margin": True}, "end_margin must be a non-negative integer"),
    ({"end_lsn": "3263A50"}, "not an LSN"),
    ({"end_lsn": None}, "required"),
])
def test_wal_segments_rejects(kwargs, message):
    arguments = {"start_lsn": "0/3221860", "end_lsn": "0/3263A50", "timeline": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        rep.wal_segments(**arguments)
