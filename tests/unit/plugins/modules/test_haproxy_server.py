"""haproxy_server's drain/ready logic against a scripted HAProxy (no socket, no Ansible run)."""
from __future__ import annotations

import pytest

from ansible_collections.django_deploy.stack.plugins.modules import haproxy_server as mod

HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\n"
STATE_HEADER = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n"


class FakeHaproxy:
    """Servers of the backend 'webservers' whose sessions end one per `show stat` after a drain,
    and whose status turns UP a few polls after `ready` (health checks passing)."""

    def __init__(self, servers, refuse=None):
        self.servers = servers  # name -> {"status", "scur", "admin"}
        self.refuse = refuse
        self.commands = []

    def __call__(self, line):
        self.commands.append(line)
        if line == "show stat":
            for server in self.servers.values():
                if server["admin"] & 8 and server["scur"]:
                    server["scur"] -= 1
                if server["status"].startswith("UP-in-"):
                    left = int(server["status"][6:]) - 1
                    server["status"] = "UP" if left == 0 else f"UP-in-{left}"
            rows = [f"webservers,{name},0,0,{s['scur']},0,,0,0,0,,0,,0,0,0,0,{self._status(s)}"
                    for name, s in self.servers.items()]
            return HEADER + "\n".join(rows) + "\nwebservers,BACKEND,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP\n\n"
        if line == "show servers state webservers":
            rows = [f"3 webservers {i} {name} 10.0.0.{i} 2 {s['admin']}" for i, (name, s) in enumerate(self.servers.items())]
            return STATE_HEADER + "\n".join(rows) + "\n"
        if line.startswith("set server webservers/"):
            if self.refuse:
                return self.refuse + "\n"
            name, _keyword, state = line[len("set server webservers/"):].split()
            server = self.servers.get(name)
            if server is None:
                return "No such server.\n"
            server["admin"] = {"drain": 8, "maint": 1, "ready": 0}[state]
            if state == "ready":
                server["status"] = server.pop("comes_up", "UP")
            return "\n"
        raise AssertionError(f"unexpected command {line!r}")

    @staticmethod
    def _status(server):
        if server["admin"] & 1:
            return "MAINT"
        if server["admin"] & 8:
            return "DRAIN"
        return "DOWN 1/2" if server["status"].startswith("UP-in-") else server["status"]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(fake, server, state, wait=10, check_mode=False, require_other_up=False):
    clock = Clock()
    return mod.run(fake, "webservers", server, state, wait, check_mode, require_other_up, clock.sleep, clock)


def test_drain_sets_the_state_and_waits_until_the_sessions_end():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 3, "admin": 0}, "web2": {"status": "UP", "scur": 1, "admin": 0}})
    result = run(fake, "web1", "drain", require_other_up=True)
    assert result["changed"] and "set server webservers/web1 state drain" in fake.commands
    assert result["before"]["status"] == "UP" and not result["before"]["drain"]
    assert result["after"]["sessions"] == 0 and result["after"]["drain"] and result["after"]["status"] == "DRAIN"
    assert result["waited_seconds"] > 0


def test_drain_of_a_drained_server_changes_nothing():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 0, "admin": 8}, "web2": {"status": "UP", "scur": 0, "admin": 0}})
    result = run(fake, "web1", "drain")
    assert not result["changed"] and not any(c.startswith("set ") for c in fake.commands)


def test_drain_times_out_with_what_is_left():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 100, "admin": 0}, "web2": {"status": "UP", "scur": 0, "admin": 0}})
    with pytest.raises(mod.WaitTimeout) as caught:
        run(fake, "web1", "drain", wait=2)
    message, partial = caught.value.args
    assert "after 2 s, webservers/web1 still has" in message and partial["after"]["drain"]


def test_drain_refuses_when_no_other_server_is_up():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 0, "admin": 0}, "web2": {"status": "DOWN", "scur": 0, "admin": 0}})
    with pytest.raises(mod.RuntimeApiError, match="no other server of webservers is UP"):
        run(fake, "web1", "drain", require_other_up=True)
    assert not any(c.startswith("set ") for c in fake.commands), "nothing was changed"


def test_ready_waits_until_the_health_check_says_up():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 0, "admin": 8, "comes_up": "UP-in-3"},
                        "web2": {"status": "UP", "scur": 0, "admin": 0}})
    result = run(fake, "web1", "ready")
    assert result["changed"] and result["after"]["status"] == "UP" and not result["after"]["drain"]


def test_ready_times_out_on_a_server_that_stays_down():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 0, "admin": 8, "comes_up": "DOWN"}})
    with pytest.raises(mod.WaitTimeout, match="is not UP"):
        run(fake, "web1", "ready", wait=3)


def test_check_mode_reports_without_sending_anything():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 5, "admin": 0}})
    result = run(fake, "web1", "drain", check_mode=True)
    assert result["changed"] and result["after"] == result["before"]
    assert fake.commands == ["show stat", "show servers state webservers"]


def test_unknown_server_and_refused_commands_fail():
    fake = FakeHaproxy({"web1": {"status": "UP", "scur": 0, "admin": 0}})
    with pytest.raises(mod.RuntimeApiError, match="no server webservers/web9"):
        run(fake, "web9", "drain")
    refusing = FakeHaproxy({"web1": {"status": "UP", "scur": 0, "admin": 0}}, refuse="Permission denied")
    with pytest.raises(mod.RuntimeApiError, match="refused .* Permission denied"):
        run(refusing, "web1", "drain")
