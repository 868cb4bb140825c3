#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module restart_inputs: report when the files a service reads at start have changed since it last took them."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restart_inputs
short_description: Report whether the files a service reads have changed since it last took them
version_added: "1.1.0"
description:
  - A service reads some files only when it starts or reloads (an environment file, a settings
    module) and none of its own configuration changes when they do. This module keeps, per
    O(consumer), the SHA-256 of each file of O(paths) in a state file on the managed host,
    C(<state_dir>/<consumer>.json), and reports C(changed) when a digest differs from the one
    recorded (a file changed, appeared or disappeared) or nothing was recorded yet, then records
    the new digests.
  - Notify the service's restart or reload handler from the task; one consumer per kind of
    action, since each remembers what its own action last took (in this collection
    C(<unit>-restart) for the files read only at start, C(<unit>-reload) for those a reload
    re-reads).
  - A missing file is recorded as absent (C(null)), so a file removed or created later is a
    change; a path that exists but is not a readable regular file is an error.
  - Returns digests only, never the files' content, so secrets files can be inputs.
author:
  - django_deploy.stack contributors (!UNKNOWN)
options:
  consumer:
    description:
      - Name of what takes the inputs, such as C(gunicorn-demo-restart); the state file's name.
      - Letters, digits, C(.), C(_), C(@) and C(-), not starting with C(.).
    type: str
    required: true
  paths:
    description: The input files, absolute paths; their order does not matter.
    type: list
    elements: path
    required: true
  state_dir:
    description:
      - Directory of the state files, created (mode C(0700)) when missing. Run the module as
        root (C(become)), so the directory and its files are root's.
    type: path
    default: /var/lib/django-deploy/restart-inputs
attributes:
  check_mode:
    support: full
    description: Reads the files and the state file and reports whether the digests differ; writes nothing.
  diff_mode:
    support: full
    description: Shows each input with its recorded and its current digest (C(absent) for a missing file).
  platform:
    support: full
    platforms: posix
    description: Any POSIX host.
notes:
  - The digests are recorded when the change is reported, before the handlers run, as a template's
    new content is written. When the play fails between the two, the handler does not run and the
    next run reports no change; run playbooks with C(--force-handlers) (the handlers then run after
    a failure too) or restart the service by hand.
  - Removing a state file makes the next run report its consumer changed (one restart or reload).
"""

EXAMPLES = r"""
- name: Restart gunicorn when the environment file changed (read only at start)
  django_deploy.stack.restart_inputs:
    consumer: gunicorn-demo-restart
    paths:
      - /etc/demo/environment
  notify: Restart gunicorn

- name: Reload gunicorn when the settings module changed (each new worker imports it)
  django_deploy.stack.restart_inputs:
    consumer: gunicorn-demo-reload
    paths:
      - /etc/demo/python/django_deploy_settings.py
  notify: Reload gunicorn
"""

RETURN = r"""
consumer:
  description: The consumer, as given.
  returned: always
  type: str
  sample: gunicorn-demo-restart
state_file:
  description: The state file of the consumer.
  returned: always
  type: str
  sample: /var/lib/django-deploy/restart-inputs/gunicorn-demo-restart.json
inputs:
  description: Each input path with its current digest (C(sha256:<hex>)), or null when the file is missing.
  returned: always
  type: dict
  sample: {"/etc/demo/environment": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
changed_paths:
  description: The inputs whose digest differs from the recorded one (all of them when nothing was recorded).
  returned: always
  type: list
  elements: str
  sample: ["/etc/demo/environment"]
digest:
  description: SHA-256 of all the inputs' digests together, what the state file records now (in check mode, would record).
  returned: always
  type: str
previous_digest:
  description: The digest recorded before, or null when there was no (readable) record.
  returned: always
  type: str
"""

import hashlib
import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

CONSUMER_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]*")
STATE_VERSION = 1


class InputError(Exception):
    """An input or the state directory cannot be used."""


def file_digest(path):
    """'sha256:<hex>' of the file's content; None when the path does not exist."""
    if not os.path.exists(path):  # a dangling symlink too: the service finds no file either
        return None
    if not os.path.isfile(path):
        raise InputError(f"{path} is not a regular file")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(65536), b""):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return "sha256:" + digest.hexdigest()


def combined_digest(inputs):
    """One digest for the path -> digest mapping, independent of the paths' order."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def read_record(state_file):
    """(recorded path -> digest mapping, warning): the mapping is None when there is no state file or
    one this module cannot use (then with a warning saying why)."""
    try:
        with open(state_file, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"ignoring the unreadable state file {state_file}: {exc}"
    inputs = record.get("inputs") if isinstance(record, dict) else None
    if not isinstance(inputs, dict) or not all(isinstance(value, (str, type(None))) for value in inputs.values()):
        return None, f"ignoring the state file {state_file}: it has no inputs mapping"
    return inputs, None


def write_record(state_dir, state_file, record):
    """Write the record atomically: a new file renamed over the old one, mode 0600."""
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=state_dir, prefix=".restart-inputs-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, state_file)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    except OSError as exc:
        raise InputError(f"cannot write {state_file}: {exc.strerror or exc}") from exc


def _diff_text(inputs):
    if inputs is None:
        return ""
    return "".join(f"{path}: {digest or 'absent'}\n" for path, digest in sorted(inputs.items()))


def run(consumer, paths, state_dir, check_mode=False, diff=False):
    """Compare the inputs with the consumer's record and record them; returns (result, warnings)."""
    if not CONSUMER_RE.fullmatch(consumer or ""):
        raise InputError(f"consumer must be letters, digits, '.', '_', '@' and '-', not starting with '.'; got {consumer!r}")
    if not paths:
        raise InputError("paths must name at least one file")
    relative = [path for path in paths if not os.path.isabs(path)]
    if relative:
        raise InputError(f"paths must be absolute, got {', '.join(relative)}")
    state_file = os.path.join(state_dir, consumer + ".json")
    inputs = {path: file_digest(path) for path in paths}
    previous, warning = read_record(state_file)
    if previous is None:
        changed_paths = sorted(inputs)
    else:
        changed_paths = sorted(path for path in set(inputs) | set(previous)
                               if inputs.get(path, False) != previous.get(path, False))
    digest = combined_digest(inputs)
    result = {
        "changed": previous is None or previous != inputs,
        "consumer": consumer,
        "state_file": state_file,
        "inputs": inputs,
        "changed_paths": changed_paths,
        "digest": digest,
        "previous_digest": None if previous is None else combined_digest(previous),
    }
    if diff:
        result["diff"] = {"before_header": state_file, "after_header": state_file,
                          "before": _diff_text(previous), "after": _diff_text(inputs)}
    if result["changed"] and not check_mode:
        write_record(state_dir, state_file, {"version": STATE_VERSION, "consumer": consumer, "digest": digest,
                                             "inputs": inputs})
    return result, [warning] if warning else []


def main():
    module = AnsibleModule(
        argument_spec=dict(
            consumer=dict(type="str", required=True),
            paths=dict(type="list", elements="path", required=True),
            state_dir=dict(type="path", default="/var/lib/django-deploy/restart-inputs"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result, warnings = run(params["consumer"], params["paths"], params["state_dir"], module.check_mode,
                               module._diff)
    except InputError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
