"""pg_replication_info's snapshot logic against a scripted cursor (no server, no Ansible run)."""
from __future__ import annotations

import pytest

from ansible_collections.django_deploy.stack.plugins.modules import pg_replication_info as mod


class ScriptedCursor:
    """Answers each query by the first keyword table that matches its text."""

    def __init__(self, answers):
        self.answers = answers
        self.rows = []

    def execute(self, query):
        for key, rows in self.answers:
            if key in query:
                self.rows = rows
                return
        raise AssertionError(f"unexpected query: {query}")

    def fetchone(self):
        return self.rows[0]

    def fetchall(self):
        return self.rows


PRIMARY = [
    ("pg_is_in_recovery", [{"in_recovery": False}]),
    ("FROM pg_stat_replication", [
        {"application_name": "db2", "client_addr": "10.0.0.2", "state": "streaming", "sync_state": "async",
         "slot_name": "replica_db2", "sent_lsn": "0/3000100", "replay_lsn": "0/3000000", "replay_lag_seconds": 0.5},
    ]),
    ("FROM pg_replication_slots", [
        {"slot_name": "replica_db2", "slot_type": "physical", "active": True, "wal_status": "reserved",
         "restart_lsn": "0/3000000"},
        {"slot_name": "replica_db9", "slot_type": "physical", "active": False, "wal_status": "lost",
         "restart_lsn": None},
    ]),
    ("pg_current_wal_lsn", [{"lsn": "0/3000100"}]),
]

STANDBY = [
    ("pg_is_in_recovery", [{"in_recovery": True}]),
    ("FROM pg_replication_slots", []),
    ("pg_last_wal_receive_lsn", [{"receive_lsn": "0/3000100", "replay_lsn": "0/3000000", "replay_lag_seconds": 2.0}]),
    ("FROM pg_stat_wal_receiver", [{"status": "streaming", "sender_host": "10.0.0.1", "sender_port": 5432,
                                    "slot_name": "replica_db2"}]),
]


def test_primary_snapshot():
    state = mod.read_state(ScriptedCursor(PRIMARY), ["db2"], 1024)
    assert state["role"] == "primary" and state["in_recovery"] is False and state["receiver"] == {}
    assert state["current_lsn"] == "0/3000100"
    [db2] = state["standbys"]
    assert db2["replay_lag_bytes"] == 0x100 and db2["sent_lag_bytes"] == 0
    assert [(s["slot_name"], s["at_risk"]) for s in state["slots"]] == [("replica_db2", False), ("replica_db9", True)]
    assert state["slots"][0]["retained_bytes"] == 0x100
    assert state["problems"] == []


@pytest.mark.parametrize("expected, bound, problems", [
    (["db2", "db3"], None, ["db3: not connected"]),
    (["db2"], 16, ["db2: replay lag 256 bytes > 16"]),
])
def test_primary_problems_reported(expected, bound, problems):
    assert mod.read_state(ScriptedCursor(PRIMARY), expected, bound)["problems"] == problems


def test_standby_snapshot():
    state = mod.read_state(ScriptedCursor(STANDBY), ["ignored"], None)
    assert state["role"] == "standby" and state["standbys"] == [] and state["problems"] == []
    assert state["current_lsn"] == "0/3000000"
    assert state["receiver"]["replay_lag_bytes"] == 0x100 and state["receiver"]["sender_host"] == "10.0.0.1"
    assert mod.read_state(ScriptedCursor(STANDBY), [], 0)["problems"] == ["replay lag 256 bytes > 0"]


def test_standby_without_receiver():
    script = [STANDBY[0], STANDBY[1], STANDBY[2], ("FROM pg_stat_wal_receiver", [])]
    state = mod.read_state(ScriptedCursor(script), [], None)
    assert state["receiver"]["status"] is None
    assert state["problems"] == ["WAL receiver status None, not streaming"]
    # Promotion: the primary is gone on purpose; what counts is having replayed its last checkpoint.
    assert mod.read_state(ScriptedCursor(script), [], None, False, "0/3000000")["problems"] == []
    assert mod.read_state(ScriptedCursor(script), [], None, False, "0/3000001")["problems"] == [
        "replayed up to 0/3000000, not yet 0/3000001"]


def test_documentation_parses_and_matches_the_argument_spec():
    import yaml

    doc = yaml.safe_load(mod.DOCUMENTATION)
    assert doc["module"] == "pg_replication_info"
    assert set(doc["options"]) == {"login_user", "login_password", "login_host", "port", "db",
                                   "expected_standbys", "max_replay_lag_bytes", "require_streaming", "min_replay_lsn",
                                   "wait_timeout"}
    returned = yaml.safe_load(mod.RETURN)
    assert {"in_recovery", "role", "current_lsn", "standbys", "slots", "receiver", "problems"} <= set(returned)
