#!/usr/bin/env bash
# fuzz.sh: run every fuzz target of the module, one at a time (go test
# -fuzz takes a single target), for FUZZTIME each. Called by `make fuzz`;
# CI runs it with FUZZTIME=3s after `make test`.
#
#   FUZZTIME=10s      -fuzztime of each target (a duration or NNNx)
#   GO=go             the go command
#   scripts/fuzz.sh [REGEXP]   only targets whose "dir FuzzName" matches
#
# Targets are found by looking for "func FuzzXxx(" in the *_test.go files
# git knows of or would add (so a new target runs without being listed).
# Every target runs even if an earlier one fails; the script fails if any
# did. A failing input is written by go test to the package's
# testdata/fuzz/FuzzXxx/: keep it only as a regression seed once fixed.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
filter=${1:-}

targets=$(git ls-files --cached --others --exclude-standard -- '*_test.go' ':!:.tools' |
	xargs grep -HoE '^func Fuzz[A-Za-z0-9_]+\(' |
	sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\1 \2#; s#^[^/ ]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#. \1#' |
	sort -u)
if [ -n "$filter" ]; then
	targets=$(grep -E -- "$filter" <<<"$targets" || true)
fi
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found${filter:+ matching $filter}" >&2
	exit 1
fi

untracked() { git ls-files --others --exclude-standard -- '*/testdata/fuzz/*' | sort; }
before=$(untracked)
n=$(wc -l <<<"$targets")
echo "fuzz.sh: $n targets, $FUZZTIME each"
start=$SECONDS
failed=()
while read -r dir name; do
	t0=$SECONDS
	log=$(mktemp)
	ok=0
	# go test -fuzz sometimes ends a run whose time is up with "context
	# deadline exceeded" and no failing input (the coordinator's deadline
	# hit a worker mid-call, not a bug of the target): such a run is tried
	# once more, and fails only if it happens again.
	for try in 1 2; do
		before_try=$(untracked)
		if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir" >"$log" 2>&1; then
			ok=1
			break
		fi
		grep -q 'context deadline exceeded' "$log" && [ "$before_try" = "$(untracked)" ] || break
		echo "      ($dir $name: 'context deadline exceeded' with no failing input; trying again)"
	done
	if [ $ok = 1 ]; then
		printf 'ok    %-28s %-36s %3ds\n' "$dir" "$name" $((SECONDS - t0))
	else
		printf 'FAIL  %-28s %-36s %3ds\n' "$dir" "$name" $((SECONDS - t0))
		sed 's/^/      /' "$log"
		failed+=("$dir $name")
	fi
	rm -f "$log"
done <<<"$targets"

echo "fuzz.sh: $n targets in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz.sh: ${#failed[@]} failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	new=$(comm -13 <(echo "$before") <(untracked))
	if [ -n "$new" ]; then
		echo "fuzz.sh: failing inputs written (keep them only as regression seeds once fixed):" >&2
		printf '  %s\n' $new >&2
	fi
	exit 1
fi
