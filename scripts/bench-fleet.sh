#!/usr/bin/env bash
# bench-fleet.sh: the fleet section of make bench (issue 16). Runs
# test/fleet's TestFleetBench (MinIO, FLEET_HOSTS agents, default 5, each
# with its own nginx, and a load balancer) and prints its Markdown section
# on stdout: the fleet switch and rollback against one local releasectl
# rollback, and staging on every host against one host's deploy, all
# measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(CI=true FLEET_BENCH=1 $GO test -count=1 -v -run '^TestFleetBench$' ./test/fleet/ 2>&1)
if ! grep -q '^--- PASS: TestFleetBench' <<<"$out"; then
	echo
	echo "## Fleet"
	echo
	echo "Not measured: TestFleetBench failed:"
	echo '```'
	grep -v '^        time=' <<<"$out" | tail -20
	echo '```'
	exit 0
fi
sed -n '/^## Fleet/,/^Targets:/p' <<<"$out" | sed '1i\\'
