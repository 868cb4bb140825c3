#!/usr/bin/env bash
# Run molecule scenarios, SCENARIO_JOBS at a time (default 2: on two cores a converge waits on
# apt, systemd and docker exec as much as on the CPU), print each one's wall time as it ends,
# and fail at the end if any failed. Usage: run-scenarios.sh SCENARIO...
# Scenarios start in the order given: pass the longest first so the slots stay full.
set -uo pipefail
jobs_max=${SCENARIO_JOBS:-2}
mkdir -p .cache/molecule

run_one() {
  local scenario=$1 log=".cache/molecule/$1.log" start status seconds tests
  start=$(date +%s)
  if molecule test -s "$scenario" >"$log" 2>&1; then status=passed; else status=FAILED; fi
  seconds=$(( $(date +%s) - start ))
  # The testinfra summary line, e.g. "16 passed in 5.72s".
  tests=$(grep -Eo '[0-9]+ (passed|failed)[^│]*in [0-9.]+s' "$log" | tail -n 1 || true)
  if [[ $status == FAILED ]]; then
    echo "==> $scenario: FAILED; the end of $log:"
    tail -n 80 "$log"
  fi
  # What its drills measured (molecule/shared/scenario_testing.py report()), in one block.
  { printf '%-16s %-7s %6ss  %s\n' "$scenario" "$status" "$seconds" "${tests:-no testinfra summary}"
    grep '^drill: ' "$log" | sed "s/^/    $scenario /" || true
  } | tee -a "$summary"
  [[ $status == passed ]]
}

# One summary per run: rows appended by the scenarios as they end.
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
started=$(date +%s)
running=0
for scenario in "$@"; do
  if (( running >= jobs_max )); then wait -n; running=$((running - 1)); fi
  echo "==> molecule test -s $scenario (log: .cache/molecule/$scenario.log)"
  run_one "$scenario" &
  running=$((running + 1))
done
wait

echo
sum=$(awk '$2 == "passed" || $2 == "FAILED" { sub(/s$/, "", $3); total += $3 } END { print total + 0 }' "$summary")
echo "molecule scenario wall times ($jobs_max at a time, $(( $(date +%s) - started ))s in all, ${sum}s summed):"
sed 's/^/  /' "$summary"
passed=$(awk '$2 == "passed"' "$summary" | wc -l)
failed=$(awk '$2 == "FAILED"' "$summary" | wc -l)
echo "scenarios: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -eq $# ]]
