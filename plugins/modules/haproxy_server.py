#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module haproxy_server: take one server of an HAProxy backend out of rotation or put it back."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Drain an HAProxy server until its sessions end, or put it back and wait until it is UP
version_added: "1.0.0"
description:
  - Talks to HAProxy's runtime API on its admin socket (C(stats socket ... level admin)) on the managed
    host, which is the load balancer (delegate to it from a play on the web hosts).
  - O(state=drain) sends C(set server <backend>/<server> state drain) (no new requests, the current
    ones finish; health checks go on); O(state=maint) takes the server out entirely; O(state=ready)
    puts it back into rotation.
  - With O(wait_timeout) above 0, then polls C(show stat) until the server has no sessions and no
    queued requests (drain, maint) or its status is C(UP) (ready), and fails when the time is up.
  - Written for rolling deploys (C(deploy.yml)) instead of M(community.general.haproxy), whose drain and
    wait options have a long bug history; the states and checks here are the ones that playbook tests.
author:
  - django_deploy.stack contributors (!UNKNOWN)
options:
  socket:
    description: Path of the admin socket on the load balancer (the role haproxy's C(haproxy_admin_socket)).
    type: path
    default: /run/haproxy/admin.sock
  backend:
    description: The backend the server belongs to. The role haproxy names its backend C(webservers).
    type: str
    default: webservers
  server:
    description: The server's name in the backend (the role haproxy uses the inventory host name).
    type: str
    required: true
  state:
    description: The admin state to set.
    type: str
    required: true
    choices: [ready, drain, maint]
  require_other_up:
    description:
      - With O(state=drain) or O(state=maint), fail without changing anything unless another server of the
        backend is C(UP), since taking out the last one would leave HAProxy nothing to send requests to.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the state to take effect (no sessions for drain and maint, C(UP) for ready);
        the module fails when the time is up. 0 sets the state and returns at once.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reports whether the admin state would change; sends no command and does not wait.
  diff_mode:
    support: none
    description: Returns no diff; the return values RV(before) and RV(after) show what changed.
notes:
  - A drained server still receives health checks, so it is C(UP) again as soon as it is ready when its
    application answered them meanwhile; a server that failed them comes back after C(rise) good checks.
  - The admin state set here lives in the running HAProxy only; a reload keeps it only with a
    server-state file, which the role haproxy does not configure, so do not reload during a rollout.
"""

EXAMPLES = r"""
- name: Drain web1 in every load balancer, waiting up to a minute for its requests to finish
  django_deploy.stack.haproxy_server:
    server: web1
    state: drain
    wait_timeout: 60
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"

- name: Put web1 back and wait until HAProxy's health check says it is UP
  django_deploy.stack.haproxy_server:
    server: web1
    state: ready
    wait_timeout: 30
  delegate_to: lb1
"""

RETURN = r"""
before:
  description: The server as it was before the command.
  returned: always
  type: dict
  contains:
    status:
      description: C(show stat) status (C(UP), C(DOWN), C(DRAIN), C(MAINT), C(UP 1/3) ...).
      type: str
    admin_state:
      description: C(srv_admin_state) bits of C(show servers state).
      type: int
    drain:
      description: Whether the server is draining (forced or inherited).
      type: bool
    maint:
      description: Whether the server is in maintenance (any reason).
      type: bool
    sessions:
      description: Requests it is serving now (C(scur)).
      type: int
    queued:
      description: Requests queued for it (C(qcur)).
      type: int
    total_sessions:
      description: Sessions it has served since HAProxy started (C(stot)).
      type: int
after:
  description: The server when the module returned (same fields as RV(before)).
  returned: always
  type: dict
waited_seconds:
  description: How long the module polled.
  returned: always
  type: float
"""

import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.django_deploy.stack.plugins.module_utils import haproxy as hap


class RuntimeApiError(Exception):
    """The socket could not be used, or HAProxy refused a command."""


class WaitTimeout(Exception):
    """The server did not reach the state in time; args: (message, partial result)."""


def command(path, line, timeout=10):
    """Send one command to the runtime API and return its whole answer (HAProxy then closes)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        raise RuntimeApiError(f"cannot use the HAProxy admin socket {path}: {exc}") from exc
    return b"".join(chunks).decode("utf-8", "replace")


def read_server(send, backend, server):
    """(stat row, admin state, every stat row) of backend/server, through send(command) -> answer."""
    rows = hap.parse_stat(send("show stat"))
    stat = hap.find(rows, backend, server, "pxname", "svname")
    state = hap.find(hap.parse_servers_state(send(f"show servers state {backend}")), backend, server,
                     "be_name", "srv_name")
    if stat is None or state is None:
        raise RuntimeApiError(f"HAProxy has no server {backend}/{server}")
    return stat, hap.admin_state(state["srv_admin_state"]), rows


def set_state(send, backend, server, state):
    """set server backend/server state <state>; HAProxy answers nothing when it accepts it."""
    answer = send(f"set server {backend}/{server} state {state}").strip()
    if answer:
        raise RuntimeApiError(f"HAProxy refused 'set server {backend}/{server} state {state}': {answer}")


def run(send, backend, server, state, wait_timeout, check_mode=False, require_other_up=False, sleep=time.sleep,
        clock=time.monotonic):
    """Set the state and wait; returns the module's result (RuntimeApiError, WaitTimeout on failure)."""
    stat, admin, rows = read_server(send, backend, server)
    result = {"changed": not hap.admin_matches(state, admin), "before": hap.summary(stat, admin), "waited_seconds": 0.0}
    if result["changed"] and require_other_up and state != "ready" and not hap.others_up(rows, backend, server):
        raise RuntimeApiError(f"no other server of {backend} is UP: taking {server} out would leave none to serve")
    if check_mode:
        result["after"] = result["before"]
        return result
    if result["changed"]:
        set_state(send, backend, server, state)
        stat, admin, rows = read_server(send, backend, server)
    start = clock()
    while wait_timeout > 0 and not hap.reached(state, stat):
        if clock() - start >= wait_timeout:
            result["after"] = hap.summary(stat, admin)
            result["waited_seconds"] = round(clock() - start, 1)
            what = "is not UP" if state == "ready" else "still has %d sessions" % hap.sessions(stat)
            raise WaitTimeout(f"after {wait_timeout} s, {backend}/{server} {what} (status {stat.get('status')})", result)
        sleep(0.5)
        stat, admin, rows = read_server(send, backend, server)
    result["after"] = hap.summary(stat, admin)
    result["waited_seconds"] = round(clock() - start, 1)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", default="/run/haproxy/admin.sock"),
            backend=dict(type="str", default="webservers"),
            server=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=list(hap.STATES)),
            require_other_up=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be >= 0")

    def send(line):
        return command(params["socket"], line)

    try:
        result = run(send, params["backend"], params["server"], params["state"], params["wait_timeout"],
                     module.check_mode, params["require_other_up"])
    except WaitTimeout as exc:
        message, partial = exc.args
        module.fail_json(msg=message, **partial)
    except (RuntimeApiError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
