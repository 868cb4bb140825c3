"""plugins/module_utils/celery_health.py: when Celery's units count as healthy, and the message."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from ansible_collections.django_deploy.stack.plugins.module_utils import celery_health as ch

RUNNING = {"ActiveState": "active", "SubState": "running", "NRestarts": "0", "MainPID": "812"}


def test_parse_show_reads_systemctl_show():
    text = "MainPID=812\nNRestarts=0\nActiveState=active\nSubState=running\nOther=x\n"
    assert ch.parse_show(text) == RUNNING
    with pytest.raises(TypeError):
        ch.parse_show(None)


def test_a_unit_that_runs_and_stays_is_healthy():
    assert ch.unit_problem(RUNNING, RUNNING, 10) is None
    assert ch.unit_problem(RUNNING, dict(RUNNING), 0) is None


@pytest.mark.parametrize("after, problem", [
    ({**RUNNING, "ActiveState": "activating", "SubState": "auto-restart"}, "is activating (auto-restart), not active (running)"),
    ({**RUNNING, "ActiveState": "failed", "SubState": "failed"}, "is failed (failed), not active (running)"),
    ({**RUNNING, "NRestarts": "2", "MainPID": "901"}, "restarted 2 times by itself within 10 s"),
    ({**RUNNING, "NRestarts": "1", "MainPID": "901"}, "restarted 1 time by itself within 10 s"),
    ({**RUNNING, "MainPID": "901"}, "changed its main process within 10 s (from 812 to 901)"),
    ({}, "is ? (?), not active (running)"),
])
def test_a_unit_that_is_down_or_crash_loops_is_named(after, problem):
    assert ch.unit_problem(RUNNING, after, 10) == problem


@given(st.integers(0, 50), st.integers(0, 50))
def test_only_new_restarts_count(before, extra):
    after = {**RUNNING, "NRestarts": str(before + extra)}
    assert (ch.unit_problem({**RUNNING, "NRestarts": str(before)}, after, 10) is None) == (extra == 0)


def test_ping_answered_reads_celerys_json():
    out = "some banner\n" + json.dumps({"default@worker1": {"ok": "pong"}})
    assert ch.ping_answered(out, "default@worker1")
    assert not ch.ping_answered(out, "other@worker1")
    assert not ch.ping_answered("Error: No nodes replied within time constraint", "default@worker1")
    assert not ch.ping_answered("", "default@worker1")
    assert not ch.ping_answered(json.dumps({"default@worker1": {"error": "x"}}), "default@worker1")


def test_node_name_is_the_units_hostname():
    assert ch.node_name("default@%H", "worker1") == "default@worker1"
    with pytest.raises(ValueError, match="node must be name@host"):
        ch.node_name("default", "worker1")


def test_the_message_names_host_unit_problem_and_log_tail():
    journal = "\n".join(f"line {n}" for n in range(30)) + "\nModuleNotFoundError: No module named 'async_timeout'\n"
    message = ch.failure_message("worker1", {"demo-celery-worker-default.service": "restarted 1 time by itself within 10 s"},
                                 {"demo-celery-worker-default.service": journal})
    assert message.startswith("Celery is not healthy on worker1:\n- demo-celery-worker-default.service restarted 1 time")
    assert message.endswith("ModuleNotFoundError: No module named 'async_timeout'")
    assert "line 15" not in message and "line 16" in message
    assert ch.failure_message("w", {"u": "is failed (failed), not active (running)"}, {}) == (
        "Celery is not healthy on w:\n- u is failed (failed), not active (running).")
