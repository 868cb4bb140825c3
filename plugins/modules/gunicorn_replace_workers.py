#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module gunicorn_replace_workers: replace a running gunicorn's workers, each new one loaded before an old one stops."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_replace_workers
short_description: Replace a running gunicorn's workers, each new one loaded before an old one stops
version_added: "1.1.0"
description:
  - gunicorn's reload (C(HUP)) stops the old workers as soon as it has forked the new ones, so
    requests wait in the socket's backlog while the new ones import the application, which takes
    seconds on a busy host.
  - This module replaces the workers without that gap, with gunicorn's own signals to its master
    process (the MainPID of O(unit)). First it sends C(TTIN) once per worker, each awaited, and the
    master forks that many new workers, which import the application and its settings afresh
    (C(preload_app) off). Each new worker marks itself loaded with a file named by its PID in
    O(ready_dir) (the C(post_worker_init) hook of the role gunicorn's configuration writes it).
    When all have, the module sends C(TTOU) once per old worker, each awaited until an old worker
    has exited; the master stops the oldest first, and an old worker finishes its requests before
    it exits.
  - The configuration file is not read again (only C(HUP) does that). Use the module for what the
    workers read when they start, such as a Django settings module.
author:
  - django_deploy.stack contributors (!UNKNOWN)
options:
  unit:
    description: The systemd service running gunicorn; its main process is gunicorn's master.
    type: str
    required: true
  ready_dir:
    description: The directory where each worker writes a file named by its PID once it has loaded the application.
    type: path
    required: true
  timeout:
    description:
      - Seconds to wait for the new workers to load the application, and for each old worker to exit.
        The module fails when one of them is up; the workers already replaced stay replaced and the
        service keeps serving.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Reports C(changed) when the service runs workers; sends no signal. A stopped service is not an error here.
  diff_mode:
    support: none
    description: Returns no diff.
notes:
  - While the new workers load, the host runs twice its usual number of workers; the sizing leaves
    room for this, as each worker's memory is mostly shared code.
"""

EXAMPLES = r"""
- name: Load the new settings module in new workers, then stop the old ones
  django_deploy.stack.gunicorn_replace_workers:
    unit: gunicorn-demo.service
    ready_dir: /run/gunicorn-demo
"""

RETURN = r"""
master:
  description: PID of gunicorn's master.
  returned: always
  type: int
replaced:
  description: PIDs of the workers that were stopped.
  returned: always
  type: list
  elements: int
workers:
  description: PIDs of the workers running when the module returned.
  returned: success
  type: list
  elements: int
seconds:
  description: How long the replacement took.
  returned: always
  type: float
"""

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.django_deploy.stack.plugins.module_utils import bounded_command

# How long one signal may take to show its effect (a worker forked): the master handles it within its one-second loop.
SIGNAL_TIMEOUT = 30


class ReplaceError(Exception):
    """The replacement could not go on; args: (message, partial result)."""


class System:
    """The host: systemd, /proc, signals and the ready directory (a fake in the unit tests)."""

    def __init__(self, ready_dir):
        self.ready_dir = ready_dir
        self.sleep = time.sleep
        self.clock = time.monotonic

    @staticmethod
    def main_pid(unit):
        result = bounded_command.run(["systemctl", "show", "--property=MainPID", "--value", unit],
                                     f"the read of {unit}'s main process", 30)
        if result.get("failed"):
            raise ReplaceError(result["msg"], {})
        return int(result["stdout"].strip() or 0)

    @staticmethod
    def children(pid):
        return sorted(bounded_command.parents().get(pid, []))

    @staticmethod
    def signal(pid, sig):
        os.kill(pid, sig)

    def ready(self):
        try:
            return {int(name) for name in os.listdir(self.ready_dir) if name.isdigit()}
        except FileNotFoundError:
            return set()

    def forget(self, pids):
        """Remove the ready files of workers that are gone (a worker removes its own when it exits cleanly)."""
        for pid in pids:
            try:
                os.unlink(os.path.join(self.ready_dir, str(pid)))
            except FileNotFoundError:
                pass


def wait(system, done, timeout, what, partial):
    """Poll done() every 0.2 s until it is true; ReplaceError naming what after timeout seconds."""
    start = system.clock()
    while not done():
        if system.clock() - start >= timeout:
            raise ReplaceError(f"after {timeout} s, {what}", partial)
        system.sleep(0.2)


def run(system, unit, timeout, check_mode=False):
    """Replace every worker of the gunicorn in unit; returns the module's result (ReplaceError on failure)."""
    started = system.clock()
    master = system.main_pid(unit)
    if master <= 0 and check_mode:
        # The run would start it before this (the role's service task): nothing to replace yet.
        return {"changed": False, "master": master, "replaced": [], "seconds": 0.0}
    if master <= 0:
        raise ReplaceError(f"{unit} is not running: there are no workers to replace", {"master": master})
    old = system.children(master)
    result = {"changed": bool(old), "master": master, "replaced": [], "seconds": 0.0}
    if not old:
        raise ReplaceError(f"gunicorn's master {master} ({unit}) has no workers", result)
    if check_mode:
        return result
    system.forget(system.ready() - set(old))

    def new():
        return [pid for pid in system.children(master) if pid not in old]

    # One TTIN at a time: signals of one kind sent together may reach the master as one.
    for count in range(1, len(old) + 1):
        system.signal(master, signal.SIGTTIN)
        wait(system, lambda count=count: len(new()) >= count, SIGNAL_TIMEOUT,
             f"gunicorn's master {master} ({unit}) had not forked new worker {count} of {len(old)} (SIGTTIN)", result)
    wait(system, lambda: len(set(new()) & system.ready()) >= len(old), timeout,
         f"{unit}: the new workers {new()} had not all loaded the application; the old ones still serve", result)
    # One TTOU per old worker, each awaited: the master stops its oldest worker.
    for count in range(1, len(old) + 1):
        system.signal(master, signal.SIGTTOU)
        wait(system, lambda count=count: len(set(old) & set(system.children(master))) <= len(old) - count, timeout,
             f"{unit}: old worker {count} of {len(old)} had not exited (SIGTTOU)", result)
        result["replaced"] = [pid for pid in old if pid not in system.children(master)]
    system.forget(old)
    result.update(workers=system.children(master), seconds=round(system.clock() - started, 1))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            ready_dir=dict(type="path", required=True),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be > 0")
    try:
        result = run(System(params["ready_dir"]), params["unit"], params["timeout"], module.check_mode)
    except ReplaceError as exc:
        message, partial = exc.args
        module.fail_json(msg=message, **partial)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
