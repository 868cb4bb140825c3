#!/usr/bin/env bash
# Every plugin the collection ships must be documented for ansible-doc.
set -euo pipefail
status=0
for type in filter module; do
  listing=$(ansible-doc -t "$type" -l django_deploy.stack 2>&1 || true)
  if grep -q UNDOCUMENTED <<<"$listing"; then
    echo "undocumented $type plugins:" >&2
    grep UNDOCUMENTED <<<"$listing" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "docs: every filter and module of django_deploy.stack is documented"
exit "$status"
