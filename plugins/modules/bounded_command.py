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
- name: Copy the primary to a new replica, for at most six hours
  django_deploy.stack.bounded_command:
    argv: [/usr/lib/postgresql/17/bin/pg_basebackup, --host=10.0.0.11, --pgdata=/var/lib/postgresql/17/main]
    creates: /var/lib/postgresql/17/main/standby.signal
    what: pg_basebackup from db1
    timeout: 21600
  become: true
  become_user: postgres

- name: Read the broker's users (a CLI call that waits for its node gets a minute)
  django_deploy.stack.bounded_command:
    argv: [rabbitmqctl, -q, list_users, --formatter, json]
    what: RabbitMQ's list of users
    timeout: 60
  register: users
  changed_when: false
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
  description: RV(stdout) as lines.
  returned: always
  type: list
  elements: str
stderr_lines:
  description: RV(stderr) as lines.
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.django_deploy.stack.plugins.module_utils.bounded_command import run


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
