# Copyright: contributors to django_deploy.stack
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command with a time limit; when it is reached, stop it and everything it started
(module bounded_command). Separate from the module so it is unit-tested on its own.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time

# Seconds between SIGTERM to the command's process group and SIGKILL.
KILL_AFTER = 5


def _text(data):
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else (data or "")


def parents():
    """{parent PID: [child PIDs]} of every process, read from /proc (empty where there is none)."""
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
    return children


def _descendants(pid):
    """The PIDs of every process below pid. A child may have left the command's process group (su
    starts its command in a session of its own), so the group alone does not reach it."""
    children = parents()
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
