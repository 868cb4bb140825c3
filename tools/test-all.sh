#!/usr/bin/env bash
# make test: the unit tests and lint (a copy of the collection each, no host) run beside the
# molecule scenarios instead of before them, which saves their minutes of CI's wall time; their
# output is printed when they end. Fails when any of them failed. Usage: test-all.sh SCENARIO...
set -uo pipefail
mkdir -p .cache
started=$(date +%s)
log=.cache/unit-lint.log
( make --no-print-directory unit lint >"$log" 2>&1 ) &
checks=$!
echo "==> make unit lint, beside the scenarios (log: $log)"
tools/run-scenarios.sh "$@"
scenarios=$?
wait "$checks"
checks_status=$?
echo
echo "==> make unit lint: $([[ $checks_status == 0 ]] && echo passed || echo FAILED); its output:"
cat "$log"
echo
echo "make test: $(( $(date +%s) - started ))s in all; unit and lint $([[ $checks_status == 0 ]] && echo passed || echo FAILED),"\
     "scenarios $([[ $scenarios == 0 ]] && echo passed || echo FAILED)"
[[ $checks_status == 0 && $scenarios == 0 ]]
