#!/usr/bin/env bash
# bench-cictl.sh CTL SITE_DIR WORK_DIR [RUNS]: what a dry run, a deploy of
# the live content (a no-op, "already live") and validate in CI cost,
# each as a ratio to a baseline timed in the same rounds:
#   - deploy --dry-run and the no-op against a real deploy (--force) of the
#     same artifact into the same store (interleaved, RUNS rounds);
#   - validate DIR --baseline against validate DIR alone.
# Prints a Markdown section on stdout (bench.sh appends it to
# BENCHMARKS.md); never fails the benchmark run: what cannot be measured is
# said so.
set -uo pipefail
CTL=$1 SITE=$2 WORK=$3 RUNS=${4:-5}
echo
echo "## Dry run, already live, validate in CI"
echo
if [ ! -d "$SITE" ]; then
	echo "Not measured: no site at $SITE."
	exit 0
fi
R=$WORK/cictl-root
rm -rf "$R" && mkdir -p "$R"
tar -C "$SITE" -czf "$WORK/cictl-site.tar.gz" .
A=$WORK/cictl-site.tar.gz
# The first deploy may be rejected by validation (a real site with broken
# links): then every run validates with --no-validate alike.
V=""
"$CTL" --root "$R" deploy "$A" >/dev/null 2>&1 || { V="--no-validate"; "$CTL" --root "$R" deploy "$A" $V >/dev/null 2>&1; }
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; local rc=$?; t1=$(date +%s%N); echo "$(((t1 - t0) / 1000000)) $rc"; }
: >"$WORK/cictl-rounds.txt"
for i in $(seq "$RUNS"); do
	for kind in force noop dry; do
		case $kind in
		force) out=$(ms "$CTL" --root "$R" deploy "$A" $V --force --keep 2) ;;
		noop) out=$(ms "$CTL" --root "$R" deploy "$A" $V) ;;
		dry) out=$(ms "$CTL" --root "$R" deploy "$A" $V --dry-run) ;;
		esac
		echo "$kind $i $out" >>"$WORK/cictl-rounds.txt"
	done
done
"$CTL" validate "$SITE" --json >"$WORK/cictl-report.json" 2>/dev/null
for i in $(seq "$RUNS"); do
	echo "alone $i $(ms "$CTL" validate "$SITE")" >>"$WORK/cictl-rounds.txt"
	echo "baseline $i $(ms "$CTL" validate "$SITE" --baseline "$WORK/cictl-report.json")" >>"$WORK/cictl-rounds.txt"
done
python3 - "$WORK/cictl-rounds.txt" "$V" "$WORK/cictl-report.json" <<'EOF'
import json, statistics, sys
t, rc = {}, {}
for line in open(sys.argv[1]):
    kind, i, ms, code = line.split()
    t.setdefault(kind, []).append(int(ms))
    rc.setdefault(kind, set()).add(int(code))
med = {k: statistics.median(v) for k, v in t.items()}
try:
    rep = json.load(open(sys.argv[3]))["report"]
    what = "%d pages, %d findings" % (rep["pages"], len(rep["findings"]))
except Exception:
    what = "report unreadable"
print("Median of %d interleaved rounds; deploys of the same artifact into one store%s." % (
    len(t.get("force", [])), " (with --no-validate: the site does not pass validation alone)" if sys.argv[2] else ""))
print()
print("| command | median | baseline | ratio | exit codes |")
print("|---|---|---|---|---|")
def row(name, k, base):
    if k not in med or base not in med:
        print("| %s | not measured | | | |" % name); return
    print("| %s | %d ms | %d ms (%s) | **%.2f×** | %s |" % (name, med[k], med[base], base, med[k] / med[base], ",".join(map(str, sorted(rc[k])))))
row("deploy, content already live (no-op)", "noop", "force")
row("deploy --dry-run", "dry", "force")
row("validate DIR --baseline REPORT", "baseline", "alone")
print()
print("The no-op and the dry run stage, hash and validate like a deploy and skip commit, activation and pruning; validate alone: %s (exit %s)." % (
    what, ",".join(map(str, sorted(rc.get("alone", []))))))
EOF
