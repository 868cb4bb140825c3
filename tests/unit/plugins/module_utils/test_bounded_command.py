"""bounded_command: real commands on this machine, with short limits."""
from __future__ import annotations

import os
import time

from ansible_collections.django_deploy.stack.plugins.module_utils import bounded_command as mod


def test_a_command_that_finishes_returns_its_output():
    result = mod.run(["sh", "-c", "echo out; echo err >&2"], "an echo", 10)
    assert "failed" not in result
    assert (result["rc"], result["stdout"], result["stderr"], result["timed_out"]) == (0, "out\n", "err\n", False)


def test_stdin_reaches_the_command_and_is_not_returned():
    result = mod.run(["cat"], "a copy of stdin", 10, stdin="secret-canary")
    assert result["stdout"] == "secret-canary"
    assert "secret-canary" not in repr({k: v for k, v in result.items() if k != "stdout"})


def test_chdir():
    assert mod.run(["pwd"], "pwd", 10, chdir="/tmp")["stdout"].strip() == os.path.realpath("/tmp")


def test_a_non_zero_exit_fails_naming_what_and_the_last_line():
    result = mod.run(["sh", "-c", "echo first >&2; echo 'node down' >&2; exit 3"], "RabbitMQ's user check", 10)
    assert result["failed"] and result["rc"] == 3
    assert result["msg"] == "RabbitMQ's user check: sh -c 'echo first >&2; echo '\"'\"'node down'\"'\"' >&2; exit 3' exited with 3: node down"


def test_a_command_that_hangs_is_stopped_with_its_children_and_named():
    started = time.monotonic()
    # A child that ignores nothing and a grandchild: the whole process group goes.
    result = mod.run(["sh", "-c", "echo started; sleep 60 & sleep 60"], "pg_basebackup from db1", 1)
    assert time.monotonic() - started < 10
    assert result["failed"] and result["timed_out"] and result["rc"] is None
    assert result["msg"].startswith("pg_basebackup from db1: sh -c 'echo started; sleep 60 & sleep 60' did not finish within 1 s")
    assert result["stdout"] == "started\n"


def test_a_command_that_ignores_sigterm_is_killed():
    started = time.monotonic()
    result = mod.run(["sh", "-c", "trap '' TERM; sleep 60"], "a stubborn command", 1)
    assert result["timed_out"] and time.monotonic() - started < 1 + mod.KILL_AFTER + 5


def test_a_missing_command_fails_naming_what():
    result = mod.run(["/nonexistent/rabbitmqctl", "status"], "RabbitMQ's status", 10)
    assert result["failed"] and result["msg"].startswith("RabbitMQ's status: cannot run /nonexistent/rabbitmqctl status:")


def test_a_child_in_a_session_of_its_own_is_stopped_too():
    """As su does: the command's child leaves the process group; it holds the pipes open."""
    started = time.monotonic()
    result = mod.run(["sh", "-c", "setsid sh -c 'echo child $$; sleep 60'; sleep 60"], "a command through su", 1)
    assert result["timed_out"] and time.monotonic() - started < 1 + 2 * mod.KILL_AFTER + 5
    child = int(result["stdout"].split()[1])
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split(") ")[1][0] == "Z"
