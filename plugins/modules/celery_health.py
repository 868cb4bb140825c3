#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module celery_health: prove that a host's Celery units run, and their workers answer."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: celery_health
short_description: Prove that a host's Celery workers and beat run, or fail naming the host, the unit and its last log lines
version_added: "1.1.0"
description:
  - Reads each unit's state from systemd. A unit is healthy when it is active and running; with
    O(settle), it must also keep its main process and not be restarted by systemd during those
    seconds (a worker that crashes after it started is restarted by C(Restart=on-failure), which a
    single look would miss).
  - With O(ping), each worker (a unit with a C(node)) must then answer C(celery inspect ping)
    within O(ping_timeout) seconds, through the broker.
  - On any failure the task fails with one message naming O(host), each unit, what is wrong and
    the last lines of its journal.
  - Every command it runs is bounded in time (module_utils bounded_command).
author:
  - django_deploy.stack contributors (!UNKNOWN)
options:
  host:
    description: The host's name in the inventory, for the message.
    type: str
    required: true
  units:
    description: The systemd units to check (the workers' and beat's).
    type: list
    elements: str
    required: true
  workers:
    description:
      - The worker units among O(units), each with its node name as the unit gives it (C(pool@%H),
        systemd's C(%H) being the host name); with O(ping), each must answer.
    type: dict
    default: {}
  run:
    description: The command that runs a program as the application with its environment (django_app's C(<name>-run)); needed with O(ping).
    type: path
  app:
    description: The project's Celery application (C(celery -A)); needed with O(ping).
    type: str
  settle:
    description: Seconds to watch the units for a restart or a new main process (0 for one look).
    type: int
    default: 0
  ping:
    description: Whether the workers must answer C(celery inspect ping).
    type: bool
    default: false
  ping_timeout:
    description: Seconds each worker has to answer, retried until then.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Read-only; runs in check mode too.
  diff_mode:
    support: none
    description: Returns no diff.
  platform:
    support: full
    platforms: posix
    description: Hosts with systemd.
"""

EXAMPLES = r"""
- name: Prove the workers and beat run after their restart
  django_deploy.stack.celery_health:
    host: "{{ inventory_hostname }}"
    units: [demo-celery-worker-default.service, demo-celery-beat.service]
    workers: {demo-celery-worker-default.service: "default@%H"}
    run: /usr/local/bin/demo-run
    app: demo
    settle: 10
    ping: true
"""

RETURN = r"""
units:
  description: Each unit's state as systemd reported it last.
  returned: always
  type: dict
  sample: {demo-celery-beat.service: {ActiveState: active, SubState: running, NRestarts: "0", MainPID: "812"}}
answered:
  description: The workers' node names that answered a ping (none without O(ping)).
  returned: always
  type: list
  elements: str
  sample: [default@worker1]
seconds:
  description: How long the checks took, in seconds.
  returned: always
  type: float
"""

import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.django_deploy.stack.plugins.module_utils import celery_health as ch
from ansible_collections.django_deploy.stack.plugins.module_utils.bounded_command import run


def health(params, runner=run, sleep=time.sleep, hostname=None):
    """(the failure message or None, each unit's last state, the workers that answered a ping) of
    the checks the options ask for.
    runner runs a bounded command (module_utils bounded_command.run); sleep and hostname are the
    system's unless a test gives its own."""
    def show(unit):
        result = runner(["systemctl", "show", "-p", ",".join(ch.SHOW_PROPERTIES), unit], f"systemd's state of {unit}", 30)
        return ch.parse_show(result["stdout"]) if not result.get("failed") else {}

    def answers(node, deadline):
        argv = [params["run"], "python", "-m", "celery", "-A", params["app"], "inspect", "ping", "--destination", node,
                "--timeout", "5", "--json"]
        while True:
            result = runner(argv, f"celery inspect ping of {node}", 60)
            if not result.get("failed") and ch.ping_answered(result["stdout"], node):
                return True
            if time.monotonic() + 2 > deadline:
                return False
            sleep(2)

    before = {unit: show(unit) for unit in params["units"]}
    if params["settle"]:
        sleep(params["settle"])
    after = {unit: show(unit) for unit in before} if params["settle"] else before
    problems, answered = {}, []
    for unit in before:
        problem = ch.unit_problem(before[unit], after[unit], params["settle"])
        if problem:
            problems[unit] = problem
    if params["ping"]:
        hostname = hostname or socket.gethostname()
        for unit, template in params["workers"].items():
            if unit not in problems:
                node = ch.node_name(str(template), hostname)
                if answers(node, time.monotonic() + params["ping_timeout"]):
                    answered.append(node)
                else:
                    problems[unit] = f"runs, but its worker {node} did not answer a ping within {params['ping_timeout']} s"
    if not problems:
        return None, after, answered
    journals = {unit: runner(["journalctl", "--unit", unit, "--lines", "15", "--no-pager", "--output", "cat"],
                             f"the journal of {unit}", 30)["stdout"] for unit in problems}
    return ch.failure_message(params["host"], problems, journals), after, answered


def main():
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "required": True},
            "units": {"type": "list", "elements": "str", "required": True},
            "workers": {"type": "dict", "default": {}},
            "run": {"type": "path"},
            "app": {"type": "str"},
            "settle": {"type": "int", "default": 0},
            "ping": {"type": "bool", "default": False},
            "ping_timeout": {"type": "int", "default": 60},
        },
        required_if=[("ping", True, ("run", "app"))],
        supports_check_mode=True,
    )
    params = module.params
    if params["settle"] < 0 or params["ping_timeout"] < 1:
        module.fail_json(msg="settle must be >= 0 and ping_timeout >= 1")
    unknown = sorted(set(params["workers"]) - set(params["units"]))
    if unknown:
        module.fail_json(msg=f"workers names units that are not in units: {', '.join(unknown)}")
    started = time.monotonic()
    try:
        message, after, answered = health(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    seconds = round(time.monotonic() - started, 2)
    if message:
        module.fail_json(msg=message, units=after, answered=answered, seconds=seconds)
    module.exit_json(changed=False, units=after, answered=answered, seconds=seconds)


if __name__ == "__main__":
    main()
