"""celery_health: the checks against a fake systemd, journal and celery CLI."""
from __future__ import annotations

import json

import pytest

from ansible_collections.django_deploy.stack.plugins.modules import celery_health as mod

WORKER = "demo-celery-worker-default.service"
BEAT = "demo-celery-beat.service"


class FakeHost:
    """Answers the module's commands: systemctl show from a list of states per unit (one per
    call, the last repeated), celery inspect ping from a list of node names that answer."""

    def __init__(self, states, answering=("default@worker1",), journal="ImportError: boom\n"):
        self.states = {unit: list(seq) for unit, seq in states.items()}
        self.answering = answering
        self.journal = journal
        self.calls = []
        self.slept = []

    def run(self, argv, what, timeout):
        self.calls.append(argv)
        assert timeout and what
        if argv[0] == "systemctl":
            seq = self.states[argv[-1]]
            state = seq.pop(0) if len(seq) > 1 else seq[0]
            return {"rc": 0, "stdout": "\n".join(f"{k}={v}" for k, v in state.items())}
        if argv[0] == "journalctl":
            return {"rc": 0, "stdout": self.journal}
        node = argv[argv.index("--destination") + 1]
        if node in self.answering:
            return {"rc": 0, "stdout": json.dumps({node: {"ok": "pong"}})}
        return {"rc": 69, "failed": True, "stdout": "", "stderr": "Error: No nodes replied within time constraint"}

    def sleep(self, seconds):
        self.slept.append(seconds)


def _state(active="active", sub="running", restarts=0, pid=812):
    return {"ActiveState": active, "SubState": sub, "NRestarts": str(restarts), "MainPID": str(pid)}


def _params(**kw):
    return {"host": "worker1", "units": [WORKER, BEAT], "workers": {WORKER: "default@%H"}, "run": "/usr/local/bin/demo-run",
            "app": "demo", "settle": 0, "ping": False, "ping_timeout": 1, **kw}


def test_one_look_when_nothing_restarted():
    host = FakeHost({WORKER: [_state()], BEAT: [_state()]})
    message, after, answered = mod.health(_params(), host.run, host.sleep, "worker1")
    assert message is None and after[WORKER]["ActiveState"] == "active" and answered == []
    assert host.slept == [] and [argv[0] for argv in host.calls] == ["systemctl", "systemctl"]


def test_after_a_restart_the_units_are_watched_and_the_workers_pinged():
    host = FakeHost({WORKER: [_state()], BEAT: [_state()]})
    message, _after, answered = mod.health(_params(settle=10, ping=True), host.run, host.sleep, "worker1")
    assert message is None and host.slept == [10] and answered == ["default@worker1"]
    ping = host.calls[-1]
    assert ping[:3] == ["/usr/local/bin/demo-run", "python", "-m"] and "default@worker1" in ping


def test_a_crash_loop_fails_naming_host_unit_and_log():
    host = FakeHost({WORKER: [_state(), _state(restarts=1, pid=901)], BEAT: [_state()]},
                    journal="Traceback\nModuleNotFoundError: No module named 'async_timeout'\n")
    message, _after, _answered = mod.health(_params(settle=10, ping=True), host.run, host.sleep, "worker1")
    assert message.startswith(f"Celery is not healthy on worker1:\n- {WORKER} restarted 1 time by itself within 10 s.")
    assert message.endswith("ModuleNotFoundError: No module named 'async_timeout'")
    assert not any("--destination" in argv for argv in host.calls), "a unit already failed is not pinged"


def test_a_worker_that_does_not_answer_fails():
    host = FakeHost({WORKER: [_state()], BEAT: [_state()]}, answering=())
    message, _after, _answered = mod.health(_params(ping=True, ping_timeout=1), host.run, host.sleep, "worker1")
    assert f"- {WORKER} runs, but its worker default@worker1 did not answer a ping within 1 s." in message


@pytest.mark.parametrize("state", [_state("failed", "failed"), _state("activating", "auto-restart")])
def test_a_unit_down_at_one_look_fails(state):
    host = FakeHost({WORKER: [_state()], BEAT: [state]})
    message, _after, _answered = mod.health(_params(), host.run, host.sleep, "worker1")
    assert f"- {BEAT} is {state['ActiveState']} ({state['SubState']}), not active (running)." in message
