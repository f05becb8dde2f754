#!/usr/bin/env bash
# bench-sites.sh: one release-agent with 1,000 inbox sites
# (BenchmarkThousandInboxes, internal/daemon): time from the rename of an
# archive into an inbox to the new `current` (one inbox at a time, p50/p99,
# against a local `releasectl deploy` of the same archive), then the
# daemon's RSS and CPU over 10 s idle. Prints a Markdown section on stdout;
# bench.sh appends it to BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
GO=${GO:-go}
log() { printf '[bench-sites %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p .bench
OUTF=.bench/sites.txt
log "go test -bench BenchmarkThousandInboxes ./internal/daemon (a few minutes)"
BENCH_SITES=1 timeout 900 $GO test -count=1 -run '^$' -bench '^BenchmarkThousandInboxes$' -benchtime 1x -timeout 15m ./internal/daemon >"$OUTF" 2>&1
python3 - "$OUTF" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
print("\n## 1,000 sites in one daemon (inboxes)\n")
line = next((l for l in text.splitlines() if l.startswith("BenchmarkThousandInboxes")), None)
if not line:
    print("Not measured: the benchmark did not run (see .bench/sites.txt).")
    sys.exit(0)
m = {u: float(v) for v, u in re.findall(r"([0-9.e+-]+) (\S+)", line.split("ns/op", 1)[1])}
print("One `release-agent`, 1,000 sites each with an inbox (one inotify instance, a watch per inbox).")
print("A small archive is renamed into one inbox at a time and timed until that site's `current` serves it.\n")
print("| figure | value | baseline | ratio |")
print("|---|---|---|---|")
print("| rename to live, p50 | %.1f ms | local `releasectl deploy` of the same archive: %.1f ms | %.2f× |" % (m["p50-ms"], m["local-deploy-ms"], m["p50/local"]))
print("| rename to live, p99 (max %.0f ms) | %.1f ms | same | %.2f× |" % (m["max-ms"], m["p99-ms"], m["p99/local"]))
print("| idle RSS of the daemon (after the deploys) | %.1f MB | | |" % m["idle-rss-MB"])
print("| idle CPU of the daemon over 10 s | %.2f %% of one core | | |" % m["idle-cpu-%"])
PY
