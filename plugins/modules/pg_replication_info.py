#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module pg_replication_info: the streaming replication state of one PostgreSQL server."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_replication_info
short_description: Streaming replication state of a PostgreSQL primary or standby, optionally waiting for it
version_added: "1.0.0"
description:
  - Connects to one PostgreSQL server with psycopg2 and reports its role in streaming replication.
  - On a primary, each standby connected to it (C(pg_stat_replication)) with its sent and replayed
    LSN and its lag in bytes and seconds, and every replication slot with C(active) and C(wal_status).
  - On a standby, its WAL receiver (C(pg_stat_wal_receiver)) with its status, the host it streams from,
    its slot, and how far replay is behind what it has received.
  - With O(wait_timeout) above 0, polls until there are no problems (every expected standby
    streaming and, with O(max_replay_lag_bytes), replayed to within that many bytes), and fails
    with the problems when the time is up.
  - Read-only, it never changes anything and always reports C(changed=false).
author:
  - django_deploy.stack contributors (!UNKNOWN)
requirements:
  - psycopg2 on the managed host (Debian package C(python3-psycopg2)).
options:
  login_user:
    description: Role to connect as. By default libpq's default, the OS user (run it with C(become_user=postgres)).
    type: str
  login_password:
    description: Password of O(login_user); not needed over the local socket with peer authentication.
    type: str
  login_host:
    description: Host or socket directory to connect to. By default the local Unix socket.
    type: str
  port:
    description: Port of the server.
    type: int
    default: 5432
  db:
    description: Database to connect to (any will do; the views are cluster-wide).
    type: str
    default: postgres
  expected_standbys:
    description:
      - On a primary, the C(application_name) of every standby that must be connected and streaming
        (this collection's replicas use their inventory name). Ignored on a standby.
    type: list
    elements: str
    default: []
  max_replay_lag_bytes:
    description:
      - Bound on replay lag. On a primary, bytes between its current WAL position and each standby's
        replay position; on a standby, bytes received but not yet replayed.
      - When unset, lag is reported but never a problem.
    type: int
  require_streaming:
    description:
      - On a standby, whether a WAL receiver that is not C(streaming) is a problem. Set it to
        false when the primary is gone on purpose (promotion) and only replay matters.
    type: bool
    default: true
  min_replay_lsn:
    description:
      - On a standby, an LSN (C(0/3000148)) it must have replayed, such as the last checkpoint of
        a primary that was stopped; until then that is a problem.
    type: str
  wait_timeout:
    description:
      - Seconds to wait until there are no problems; the module fails with the list of problems
        when they remain after this time. 0 reports once and never fails on problems.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same queries in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff to report.
notes:
  - On an idle cluster, a standby's O(max_replay_lag_bytes) lag is 0 while its lag in seconds keeps
    growing (it is measured from the last replayed transaction); bound bytes, not seconds.
"""

EXAMPLES = r"""
- name: Wait until every replica streams and has replayed up to 16 MB of the primary's WAL
  django_deploy.stack.pg_replication_info:
    expected_standbys: "{{ groups['db_replicas'] }}"
    max_replay_lag_bytes: 16777216
    wait_timeout: 120
  become: true
  become_user: postgres
  when: inventory_hostname in groups['db_primary']

- name: Read a standby's receiver
  django_deploy.stack.pg_replication_info:
  become: true
  become_user: postgres
  register: standby

- name: Show where it streams from
  ansible.builtin.debug:
    msg: "{{ standby.receiver.sender_host }} ({{ standby.receiver.status }})"
"""

RETURN = r"""
in_recovery:
  description: Whether the server is a standby (C(pg_is_in_recovery())).
  returned: always
  type: bool
role:
  description: C(primary) or C(standby).
  returned: always
  type: str
  sample: primary
current_lsn:
  description: On a primary C(pg_current_wal_lsn()); on a standby C(pg_last_wal_replay_lsn()).
  returned: always
  type: str
  sample: 0/3000148
standbys:
  description: On a primary, one entry per connected standby (empty on a standby).
  returned: always
  type: list
  elements: dict
  contains:
    application_name:
      description: The standby's name (its inventory host for this collection's replicas).
      type: str
    client_addr:
      description: Address it connects from.
      type: str
    state:
      description: WAL sender state (C(streaming), C(catchup), C(startup), C(backup)).
      type: str
    sync_state:
      description: C(async), C(sync), C(quorum) or C(potential).
      type: str
    slot_name:
      description: The slot it streams through, if any.
      type: str
    sent_lsn:
      description: Last WAL position sent.
      type: str
    replay_lsn:
      description: Last WAL position the standby replayed.
      type: str
    sent_lag_bytes:
      description: Bytes from C(sent_lsn) to the primary's current position.
      type: int
    replay_lag_bytes:
      description: Bytes from C(replay_lsn) to the primary's current position.
      type: int
    replay_lag_seconds:
      description: PostgreSQL's C(replay_lag) in seconds (null when idle).
      type: float
slots:
  description: Every replication slot of the server.
  returned: always
  type: list
  elements: dict
  contains:
    slot_name:
      description: Name.
      type: str
    slot_type:
      description: C(physical) or C(logical).
      type: str
    active:
      description: Whether a connection uses it now.
      type: bool
    wal_status:
      description: C(reserved), C(extended), C(unreserved) or C(lost).
      type: str
    restart_lsn:
      description: Oldest WAL position the slot keeps.
      type: str
    retained_bytes:
      description: WAL the slot holds back on a primary (null on a standby).
      type: int
    at_risk:
      description: True when wal_status is C(unreserved) or C(lost) (its standby must be re-seeded once lost).
      type: bool
receiver:
  description: On a standby, its WAL receiver; on a primary, an empty dict.
  returned: always
  type: dict
  contains:
    status:
      description: C(streaming) when healthy; null when no receiver runs.
      type: str
    sender_host:
      description: Host it streams from.
      type: str
    sender_port:
      description: Port it streams from.
      type: int
    slot_name:
      description: Slot it streams through.
      type: str
    receive_lsn:
      description: C(pg_last_wal_receive_lsn()).
      type: str
    replay_lsn:
      description: C(pg_last_wal_replay_lsn()).
      type: str
    replay_lag_bytes:
      description: Bytes received but not replayed yet.
      type: int
    replay_lag_seconds:
      description: Seconds since the last replayed transaction committed on the primary.
      type: float
problems:
  description: Why the state is not the expected one (empty when it is).
  returned: always
  type: list
  elements: str
  sample: ["db3: not connected"]
waited_seconds:
  description: How long the module polled.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import psycopg2
    import psycopg2.extras
except ImportError:  # reported by main() with missing_required_lib
    psycopg2 = None

from ansible_collections.django_deploy.stack.plugins.module_utils import pg_replication as rep

_PRIMARY_STANDBYS = """
SELECT r.application_name, host(r.client_addr) AS client_addr, r.state, r.sync_state,
       s.slot_name, r.sent_lsn::text AS sent_lsn, r.replay_lsn::text AS replay_lsn,
       extract(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds
  FROM pg_stat_replication r LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
 ORDER BY r.application_name
"""
_SLOTS = """
SELECT slot_name, slot_type, active, wal_status, restart_lsn::text AS restart_lsn
  FROM pg_replication_slots ORDER BY slot_name
"""
_RECEIVER = "SELECT status, sender_host, sender_port, slot_name FROM pg_stat_wal_receiver"
_STANDBY_POSITIONS = """
SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_lag_seconds
"""


def _rows(cursor, query):
    cursor.execute(query)
    return [dict(row) for row in cursor.fetchall()]


def read_state(cursor, expected, max_lag, require_streaming=True, min_replay_lsn=None):
    """One snapshot of the server's replication state, with its problems."""
    cursor.execute("SELECT pg_is_in_recovery() AS in_recovery")
    in_recovery = bool(cursor.fetchone()["in_recovery"])
    slots_rows = _rows(cursor, _SLOTS)
    if in_recovery:
        positions = _rows(cursor, _STANDBY_POSITIONS)[0]
        receiver_rows = _rows(cursor, _RECEIVER)
        receiver = rep.receiver_summary(receiver_rows[0] if receiver_rows else None, positions["receive_lsn"],
                                        positions["replay_lsn"], positions["replay_lag_seconds"])
        return {
            "in_recovery": True, "role": "standby", "current_lsn": positions["replay_lsn"], "standbys": [],
            "slots": [rep.slot_summary(row, None) for row in slots_rows], "receiver": receiver,
            "problems": rep.standby_problems(receiver, max_lag, require_streaming, min_replay_lsn),
        }
    cursor.execute("SELECT pg_current_wal_lsn()::text AS lsn")
    current = cursor.fetchone()["lsn"]
    standbys = [rep.standby_summary(row, current) for row in _rows(cursor, _PRIMARY_STANDBYS)]
    return {
        "in_recovery": False, "role": "primary", "current_lsn": current, "standbys": standbys,
        "slots": [rep.slot_summary(row, current) for row in slots_rows], "receiver": {},
        "problems": rep.primary_problems(standbys, max_lag, expected),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            login_user=dict(type="str"),
            login_password=dict(type="str", no_log=True),
            login_host=dict(type="str"),
            port=dict(type="int", default=5432),
            db=dict(type="str", default="postgres"),
            expected_standbys=dict(type="list", elements="str", default=[]),
            max_replay_lag_bytes=dict(type="int"),
            require_streaming=dict(type="bool", default=True),
            min_replay_lsn=dict(type="str"),
            wait_timeout=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2"))
    params = module.params
    if params["wait_timeout"] < 0 or (params["max_replay_lag_bytes"] or 0) < 0:
        module.fail_json(msg="wait_timeout and max_replay_lag_bytes must be >= 0")
    try:
        rep.parse_lsn(params["min_replay_lsn"])
    except ValueError as exc:
        module.fail_json(msg=f"min_replay_lsn: {exc}")
    connect = {"dbname": params["db"], "port": params["port"], "connect_timeout": 10,
               "application_name": "pg_replication_info"}
    for key, option in (("user", "login_user"), ("password", "login_password"), ("host", "login_host")):
        if params[option]:
            connect[key] = params[option]
    try:
        conn = psycopg2.connect(**connect)
    except psycopg2.Error as exc:
        module.fail_json(msg=f"cannot connect to PostgreSQL: {exc}".strip())
    conn.autocommit = True  # every poll sees fresh statistics, outside any snapshot
    start = time.monotonic()
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            while True:
                state = read_state(cursor, params["expected_standbys"], params["max_replay_lag_bytes"],
                                   params["require_streaming"], params["min_replay_lsn"])
                waited = time.monotonic() - start
                if not state["problems"] or waited >= params["wait_timeout"]:
                    break
                time.sleep(1)
    except psycopg2.Error as exc:
        module.fail_json(msg=f"cannot read the replication state: {exc}".strip())
    finally:
        conn.close()
    state["waited_seconds"] = round(waited, 1)
    if params["wait_timeout"] and state["problems"]:
        module.fail_json(msg=f"after {params['wait_timeout']} s: " + "; ".join(state["problems"]),
                         changed=False, **state)
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
