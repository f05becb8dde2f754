#!/usr/bin/env bash
# bench-accesslog.sh: the access log section of make bench. Runs
# internal/accesslog's TestFollowCost (nginx with one worker and the shipped
# release_agent log format, loaded by wrk for 10 s; the follower, Follow +
# Window as the daemon runs them, in a child process) and prints its
# Markdown section on stdout: the follower's CPU per request against
# nginx's own for the same requests, and its share of one core at 20,000
# requests/s, all measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(CI=true ACCESSLOG_BENCH=1 $GO test -count=1 -v -run '^TestFollowCost$' ./internal/accesslog/ 2>&1)
if ! grep -q '^--- PASS: TestFollowCost' <<<"$out"; then
	echo
	echo "## Access log following"
	echo
	echo "Not measured: TestFollowCost failed:"
	echo '```'
	tail -20 <<<"$out"
	echo '```'
	exit 0
fi
sed -n '/^## Access log following/,/^Targets:/p' <<<"$out" | sed '1i\\'
