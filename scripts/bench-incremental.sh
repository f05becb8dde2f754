#!/usr/bin/env bash
# bench-incremental.sh: one changed file in an `mc mirror`-uploaded
# python3.11-doc prefix with an empty marker (no sha256 list), pulled with
# the sum cache against a full pull and `mc cp --recursive` of the same
# prefix in the same run (BenchmarkMirrorOneFileChange, internal/ingest/s3).
# Prints a Markdown section on stdout; bench.sh appends it to BENCHMARKS.md.
#
#   BENCH_GOBENCH=FILE  output of a `go test -bench` run that already holds
#                       the benchmark (bench.sh passes its own): not run again
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
GO=${GO:-go}
log() { printf '[bench-incremental %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p .bench
OUTF=.bench/incremental.txt
if [ -n "${BENCH_GOBENCH:-}" ] && grep -q '^BenchmarkMirrorOneFileChange' "$BENCH_GOBENCH" 2>/dev/null; then
	cp "$BENCH_GOBENCH" "$OUTF"
else
	log "go test -bench BenchmarkMirrorOneFileChange ./internal/ingest/s3"
	timeout 900 $GO test -count=1 -run '^$' -bench '^BenchmarkMirrorOneFileChange$' -benchtime 1x -timeout 15m ./internal/ingest/s3 >"$OUTF" 2>&1
fi
python3 - "$OUTF" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
print("\n## Incremental S3 pull without a sha256 list\n")
line = next((l for l in text.splitlines() if l.startswith("BenchmarkMirrorOneFileChange")), None)
if not line:
    why = next((l.strip() for l in text.splitlines() if "skipped" in l or "missing" in l), "the benchmark did not run (see .bench/incremental.txt)")
    print("Not measured: %s." % why)
    sys.exit(0)
m = {u: float(v) for v, u in re.findall(r"([0-9.e+-]+) (\S+)", line.split("ns/op", 1)[1])}
ms = lambda k: "%.0f ms" % m[k]
print("python3.11-doc (%d objects) uploaded with `mc mirror` and an empty `.release-complete`; one file" % m["objects"])
print("changed and mirrored again, then pulled with the previous pull as the live release (medians of 3).")
print("Bytes are every response body through a proxy in front of MinIO, listing included.\n")
print("| figure | value | baseline | ratio |")
print("|---|---|---|---|")
print("| time of the pull, one file changed | %s | full pull: %s | %.3f× |" % (ms("incr-ms"), ms("full-ms"), m["time/full"]))
print("| same | %s | `mc cp --recursive` of the prefix: %s | %.3f× |" % (ms("incr-ms"), ms("mc-cp-ms"), m["time/mc-cp"]))
print("| bytes moved, one file changed | %.0f kB | full pull: %.1f MB | %.4f× |" % (m["incr-bytes"] / 1e3, m["full-bytes"] / 1e6, m["bytes/full"]))
PY
