#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module bounded_command: run a command with a time limit, and say what hung when it is reached."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bounded_command
short_description: Run a command with a time limit; when it is reached, stop it and say what hung
version_added: "1.1.0"
description:
  - Runs O(argv) without a shell, like M(ansible.builtin.command), in a process group of its own.
    When it has not finished after O(timeout) seconds, the whole group is sent C(SIGTERM), then
    C(SIGKILL) 5 seconds later, and the task fails with a message naming O(what), the command and
    the limit, with what the command printed until then.
  - A command that exits with a non-zero code fails the task with a message naming O(what) and
    the code (use C(failed_when) to accept some codes, as with M(ansible.builtin.command)).
  - Every command the collection's roles and playbooks run goes through this module, so no task
    waits forever on a command that hangs (a RabbitMQ CLI tool waiting for a node, a
    C(pg_basebackup) waiting for a primary, a C(manage.py) step waiting for a lock).
author:
  - django_deploy.stack contributors (!UNKNOWN)
options:
  argv:
    description: The command and its arguments, run without a shell.
    type: list
    elements: str
    required: true
  what:
    description: What the command does, in a few words (such as C(RabbitMQ's check of the app user's password)); the messages name it.
    type: str
    required: true
  timeout:
    description: Seconds the command may run before it is stopped and the task fails.
    type: int
    default: 300
  stdin:
    description:
      - Text written to the command's standard input (then closed). Not logged, and never
        returned, since it may carry a secret.
    type: str
  chdir:
    description: Directory to run the command in.
    type: path
  creates:
    description: A path; when it exists, the command does not run and the task reports no change.
    type: path
  removes:
    description: A path; when it does not exist, the command does not run and the task reports no change.
    type: path
attributes:
  check_mode:
    support: none
    description: Skipped in check mode, as M(ansible.builtin.command); a read-only task sets C(check_mode=false) to run in it.
  diff_mode:
    support: none
    description: Returns no diff.
  platform:
    support: full
    platforms: posix
    description: Any POSIX host.
"""

EXAMPLES = r"""
- name: Check the app user's password (RabbitMQ's CLI waits for its node: give it a minute)
  django_deploy.stack.bounded_command:
    argv: [rabbitmqctl, -q, authenticate_user, app]
    stdin: "{{ rabbitmq_app_password }}"
    what: RabbitMQ's check of the app user's password
    timeout: 60
  register: checked
  changed_when: false
  failed_when: false
"""

RETURN = r"""
cmd:
  description: The command that ran.
  returned: always
  type: list
  elements: str
  sample: [rabbitmqctl, -q, authenticate_user, app]
rc:
  description: Its exit code; null when it was stopped at the time limit.
  returned: always
  type: int
  sample: 0
stdout:
  description: What it printed on standard output.
  returned: always
  type: str
stderr:
  description: What it printed on standard error.
  returned: always
  type: str
stdout_lines:
  description: O(stdout) as lines.
  returned: always
  type: list
  elements: str
stderr_lines:
  description: O(stderr) as lines.
  returned: always
  type: list
  elements: str
timed_out:
  description: Whether the command was stopped at the time limit.
  returned: always
  type: bool
seconds:
  description: How long the command ran, in seconds.
  returned: always
  type: float
  sample: 1.42
"""

import os
import shlex
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

# Seconds between SIGTERM to the command's process group and SIGKILL.
KILL_AFTER = 5


def _text(data):
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else (data or "")


def _descendants(pid):
    """The PIDs of every process below pid, read from /proc (empty where there is none). A child
    may have left the command's process group (su starts its command in a session of its own),
    so the group alone does not reach it."""
    children = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                # pid (comm) state ppid ...: comm may hold spaces and parentheses.
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(process, pids, sig):
    """sig to the command's process group and to each process found below it."""
    for target, send in [(process.pid, os.killpg)] + [(pid, os.kill) for pid in pids]:
        try:
            send(target, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _stop(process):
    """SIGTERM to the command and everything below it, SIGKILL after KILL_AFTER s; returns what it
    printed. Never waits more than KILL_AFTER s for output after the SIGKILL (a process that
    escaped both could hold the pipes open)."""
    pids = _descendants(process.pid)
    out, err = b"", b""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_all(process, pids + _descendants(process.pid), sig)
        try:
            out, err = process.communicate(timeout=KILL_AFTER)
            return out, err
        except subprocess.TimeoutExpired as exc:
            out, err = exc.stdout or out, exc.stderr or err
    for pipe in (process.stdout, process.stderr):
        if pipe:
            pipe.close()
    process.wait(timeout=KILL_AFTER)
    return out, err


def run(argv, what, timeout, stdin=None, chdir=None):
    """Run argv with the time limit; returns the result dict (with 'failed' and 'msg' when it failed)."""
    command = shlex.join(argv)
    started = time.monotonic()
    try:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, cwd=chdir, start_new_session=True,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        return {"failed": True, "msg": f"{what}: cannot run {command}: {exc.strerror or exc}", "cmd": argv, "rc": None,
                "stdout": "", "stderr": "", "timed_out": False, "seconds": 0.0}
    timed_out = False
    try:
        out, err = process.communicate(input=stdin.encode() if stdin is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        out, err = _stop(process)
    result = {"cmd": argv, "rc": None if timed_out else process.returncode, "stdout": _text(out), "stderr": _text(err),
              "timed_out": timed_out, "seconds": round(time.monotonic() - started, 2)}
    if timed_out:
        result.update(failed=True, msg=f"{what}: {command} did not finish within {timeout} s and was stopped"
                                       f" (its output so far is in stdout and stderr)")
    elif process.returncode != 0:
        last = result["stderr"].strip().splitlines() or result["stdout"].strip().splitlines() or [""]
        result.update(failed=True, msg=f"{what}: {command} exited with {process.returncode}"
                                       + (f": {last[-1]}" if last[-1] else ""))
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "argv": {"type": "list", "elements": "str", "required": True},
            "what": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 300},
            "stdin": {"type": "str", "no_log": True},
            "chdir": {"type": "path"},
            "creates": {"type": "path"},
            "removes": {"type": "path"},
        },
        supports_check_mode=False,
    )
    params = module.params
    if not params["argv"]:
        module.fail_json(msg=f"{params['what']}: argv names no command")
    if params["timeout"] < 1:
        module.fail_json(msg=f"{params['what']}: timeout must be at least 1 second, got {params['timeout']}")
    skip = (f"{params['creates']} exists" if params["creates"] and os.path.exists(params["creates"]) else
            f"{params['removes']} does not exist" if params["removes"] and not os.path.exists(params["removes"]) else None)
    if skip:
        module.exit_json(changed=False, cmd=params["argv"], rc=0, stdout="", stderr="", stdout_lines=[], stderr_lines=[],
                         timed_out=False, seconds=0.0, msg=f"skipped: {skip}")
    result = run(params["argv"], params["what"], params["timeout"], params["stdin"], params["chdir"])
    result["stdout_lines"] = result["stdout"].splitlines()
    result["stderr_lines"] = result["stderr"].splitlines()
    if result.pop("failed", False):
        module.fail_json(changed=True, **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
