#!/usr/bin/env bash
# Run molecule scenarios one after another (two cores: never in parallel), print each one's
# wall time, and fail at the end if any failed. Usage: run-scenarios.sh SCENARIO...
set -uo pipefail
mkdir -p .cache/molecule
declare -a rows
failed=0
passed_count=0
failed_count=0
for scenario in "$@"; do
  log=".cache/molecule/$scenario.log"
  echo "==> molecule test -s $scenario (log: $log)"
  start=$(date +%s)
  if molecule test -s "$scenario" >"$log" 2>&1; then
    status=passed
    passed_count=$((passed_count + 1))
  else
    status=FAILED
    failed=1
    failed_count=$((failed_count + 1))
    tail -n 80 "$log"
  fi
  seconds=$(( $(date +%s) - start ))
  # The testinfra summary line, e.g. "16 passed in 5.72s".
  tests=$(grep -Eo '[0-9]+ passed[^│]*in [0-9.]+s' "$log" | tail -n 1 || true)
  printf '==> %s: %s in %ss (%s)\n' "$scenario" "$status" "$seconds" "${tests:-no testinfra summary}"
  rows+=("$(printf '%-16s %-7s %6ss  %s' "$scenario" "$status" "$seconds" "${tests:-}")")
done
echo
echo "molecule scenario wall times:"
printf '  %s\n' "${rows[@]}"
echo "scenarios: $passed_count passed, $failed_count failed"
exit "$failed"
