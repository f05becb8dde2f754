#!/usr/bin/env bash
# bench.sh: every figure of the project, each as a ratio against a baseline
# measured in the same run, written to BENCHMARKS.md (regenerated).
# Called by `make bench`; runs in about 10-15 minutes on 2 cores.
#
#   BENCH_QUICK=1       fewer iterations (a smoke run, minutes)
#   GO_BENCHTIME=1x     -benchtime of the Go benchmarks
#   ROLLBACKS=1000      rollbacks timed for the latency percentiles
#
# Nothing here fails because a piece is missing: a benchmark that another
# package has not written yet, or a tool that is not installed, is listed
# as "not measured" with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PATH="$REPO/.tools/bin:$PATH"
OUT=$REPO/.bench
RES=$OUT/results
rm -rf "$OUT"
mkdir -p "$OUT" "$RES" bin
GO=${GO:-go}
QUICK=${BENCH_QUICK:-}
ROLLBACKS=${ROLLBACKS:-1000}
DEPLOY_RUNS=7
[ -n "$QUICK" ] && { ROLLBACKS=100; DEPLOY_RUNS=2; }
SITE_SRC=/usr/share/doc/python3.11/html

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
# figure KEY VALUE: one measured number, kept in results/figures.txt
figure() { printf '%s=%s\n' "$1" "$2" >>"$RES/figures.txt"; }
missing() { printf '%s\t%s\n' "$1" "$2" >>"$RES/missing.txt"; log "not measured: $1 ($2)"; }
touch "$RES/figures.txt" "$RES/missing.txt"

log "building bin/"
# As `make build` (and the packages) build them: static, stripped. A cgo
# build of releasectl is dynamically linked and starts ~4 ms slower.
CGO_ENABLED=0 $GO build -trimpath -ldflags '-s -w' -o bin/releasectl ./cmd/releasectl || { echo "bench: cannot build releasectl" >&2; exit 1; }
CGO_ENABLED=0 $GO build -trimpath -ldflags '-s -w' -o bin/release-agent ./cmd/agent || { echo "bench: cannot build release-agent" >&2; exit 1; }
CTL=$REPO/bin/releasectl

# ---------------------------------------------------------------- Go benchmarks
log "Go benchmarks (go test -run '^\$' -bench . -benchtime ${GO_BENCHTIME:-1x} ./...)"
timeout 600 $GO test -run '^$' -bench . -benchtime "${GO_BENCHTIME:-1x}" -timeout 10m ./... >"$OUT/gobench.txt" 2>&1
grep -E '^(Benchmark|ok|FAIL|---|\s+\S+_test.go)' "$OUT/gobench.txt" >"$RES/gobench.txt" || true

# ---------------------------------------------------------------- the real site
if [ -d "$SITE_SRC" ]; then
	log "copying $SITE_SRC"
	cp -rL "$SITE_SRC" "$OUT/site"
	SITE_FILES=$(find "$OUT/site" -type f | wc -l)
	figure site_files "$SITE_FILES"
	figure site_bytes "$(du -sb "$OUT/site" | cut -f1)"
	tar -C "$OUT/site" -czf "$OUT/site.tar.gz" .
	figure archive_bytes "$(stat -c %s "$OUT/site.tar.gz")"
else
	SITE_FILES=0
	missing "deploy, disk, hashing, validation on a real site" "python3.11-doc not installed (apt-get install -y python3.11-doc)"
fi

hf() { hyperfine --style none --export-json "$@" >/dev/null 2>>"$OUT/hyperfine.log"; }
# mean/median/p99 of a hyperfine JSON export (first command), in seconds
stat_of() { python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = sorted(r["times"])
q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
print({"mean": r["mean"], "p50": q(0.50), "p99": q(0.99), "n": len(t)}[sys.argv[2]])
EOF
}

# ---------------------------------------------------------------- rollback vs mv -T
if have hyperfine && [ "$SITE_FILES" -gt 0 ]; then
	log "rollback vs mv -T ($ROLLBACKS each)"
	R=$OUT/rb-root
	mkdir -p "$R"
	V=$("$CTL" --root "$R" deploy "$OUT/site.tar.gz" --no-validate 2>/dev/null | tail -1)
	cp -r "$OUT/site" "$OUT/site2" && echo "<!-- changed -->" >>"$OUT/site2/index.html"
	W=$("$CTL" --root "$R" deploy "$OUT/site2" --no-validate 2>/dev/null | tail -1)
	if [ -n "$V" ] && [ -n "$W" ]; then
		# The two deploys above leave ~130 MB being written back; a switch
		# fsyncs, and a cache flush waits for that I/O. Time the switch,
		# not the setup's writeback.
		sync
		# Every timed run is a real switch: the untimed prepare step goes
		# back to V, the timed command rolls back to W. The runs alternate
		# in blocks with mv -T's, so that both sample the same stretches of
		# time: on a shared VM the speed of everything drifts within a run
		# (mv -T itself from 3.4 to 4.9 ms), and two series timed one after
		# the other compare the drift as much as the commands.
		ln -sfn releases/"$V" "$R/mvbase"
		blocks=10
		per=$(((ROLLBACKS + blocks - 1) / blocks))
		for b in $(seq $blocks); do
			hf "$RES/rollback-$b.json" -N --warmup 3 --runs "$per" \
				--prepare "$CTL --root $R rollback --to $V" "$CTL --root $R rollback --to $W"
			hf "$RES/mv-$b.json" -N --warmup 3 --runs "$per" \
				--prepare "ln -sfn releases/$W $R/mvnew" "mv -T $R/mvnew $R/mvbase"
		done
		# The switch inside the process (lock, carry-over, rename, fsyncs,
		# journal line): the "seconds" of rollback --json.
		n=200
		[ -n "$QUICK" ] && n=20
		for i in $(seq $n); do
			"$CTL" --root "$R" --json rollback --to "$V" >/dev/null 2>&1
			"$CTL" --root "$R" --json rollback --to "$W" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])' >>"$RES/switch-seconds.txt"
		done
		python3 - "$RES/switch-seconds.txt" >>"$RES/figures.txt" <<'EOF'
import statistics, sys
t = sorted(float(l) for l in open(sys.argv[1]) if l.strip())
if t:
    print("switch_p50=%s\nswitch_p99=%s\nswitch_n=%d" % (t[len(t) // 2], t[min(len(t) - 1, int(0.99 * len(t)))], len(t)))
EOF
		if python3 - "$RES" "$blocks" >>"$RES/figures.txt" <<'EOF'
import json, statistics, sys, os
res, blocks = sys.argv[1], int(sys.argv[2])
times = {"rollback": [], "mv": []}
ratios = []
for b in range(1, blocks + 1):
    block = {}
    for k in times:
        t = json.load(open(os.path.join(res, "%s-%d.json" % (k, b))))["results"][0]["times"]
        times[k] += t
        block[k] = statistics.mean(t)
    ratios.append(block["rollback"] / block["mv"])
for k, t in times.items():
    t.sort()
    q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
    print("%s_mean=%s\n%s_p50=%s\n%s_p99=%s\n%s_n=%d" % (k, statistics.mean(t), k, q(0.5), k, q(0.99), k, len(t)))
print("rollback_block_ratios=%.2f-%.2f (%d blocks)" % (min(ratios), max(ratios), blocks))
EOF
		then :; else
			missing "rollback vs mv -T" "hyperfine failed (see .bench/hyperfine.log)"
		fi
	else
		missing "rollback vs mv -T" "deploying the site failed"
	fi
elif ! have hyperfine; then
	missing "rollback vs mv -T" "hyperfine not installed"
fi

# ---------------------------------------------------------------- deploy vs tar -x
if have hyperfine && [ "$SITE_FILES" -gt 0 ]; then
	log "deploy vs tar -xzf ($DEPLOY_RUNS each)"
	D=$OUT/deploy-root T=$OUT/tar-dir
	VALIDATE=""
	mkdir -p "$D"
	"$CTL" --root "$D" --json deploy "$OUT/site.tar.gz" >"$RES/deploy-first.json" 2>"$OUT/deploy-first.err"
	rc=$?
	if [ $rc = 3 ]; then
		VALIDATE="--no-validate"
		# with --json the error document is on stderr
		why=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["message"])' "$OUT/deploy-first.err" 2>/dev/null ||
			head -c 200 "$OUT/deploy-first.err")
		figure deploy_validation "rejected by validation (exit 3: $why), so deploys are timed with --no-validate"
		"$CTL" --root "$D" --json deploy "$OUT/site.tar.gz" --no-validate >"$RES/deploy-first.json" 2>>"$OUT/deploy-first.err"
		rc=$?
	fi
	if [ $rc = 0 ]; then
		# Interleaved, not one series after the other: each round times
		# tar -xzf, a bare deploy, a hashed deploy and the full deploy, each
		# into an empty directory after a sync (untimed). Every command
		# writes 67 MB; run in series, each would pay for the writeback of
		# the one before, and the time to allocate page cache drifts on
		# this kind of VM, so only neighbours in time compare fairly.
		# tar -xzf as a series too, without the sync: faster here (the
		# page cache freed by rm -rf is reused at once), so the stricter
		# baseline for the hashing stage.
		hf "$RES/tar.json" -N --warmup 1 --runs "$DEPLOY_RUNS" \
			--prepare "sh -c 'rm -rf $T && mkdir -p $T'" "tar -xzf $OUT/site.tar.gz -C $T"
		figure tar_series_median "$(stat_of "$RES/tar.json" p50)"
		: >"$RES/deploy-rounds.txt"
		for i in $(seq "$DEPLOY_RUNS"); do
			for kind in tar bare hash full; do
				rm -rf "$T" "$D" && mkdir -p "$T" "$D" && sync
				case $kind in
				tar) cmd="tar -xzf $OUT/site.tar.gz -C $T" ;;
				bare) cmd="$CTL --root $D --json deploy $OUT/site.tar.gz --no-hash --no-validate" ;;
				hash) cmd="$CTL --root $D --json deploy $OUT/site.tar.gz --no-validate" ;;
				full) cmd="$CTL --root $D --json deploy $OUT/site.tar.gz $VALIDATE" ;;
				esac
				t0=$(date +%s%N)
				$cmd >"$RES/deploy-$kind-$i.json" 2>/dev/null || { missing "deploy vs tar -x" "$kind run $i failed"; break 2; }
				t1=$(date +%s%N)
				echo "$kind $i $(((t1 - t0) / 1000))" >>"$RES/deploy-rounds.txt"
			done
		done
		python3 - "$RES" >>"$RES/figures.txt" <<'EOF'
import json, statistics, sys, glob, os
res = sys.argv[1]
t = {}
for line in open(os.path.join(res, "deploy-rounds.txt")):
    kind, i, us = line.split()
    t.setdefault(kind, {})[int(i)] = int(us) / 1e6
names = {"tar": "tar", "bare": "deploy_bare", "hash": "deploy_hash", "full": "deploy"}
for kind, v in t.items():
    print("%s_median=%s" % (names[kind], statistics.median(v.values())))
# what hashing adds: the median of the differences of neighbours in time
pairs = [t["hash"][i] - t["bare"][i] for i in t.get("hash", {}) if i in t.get("bare", {})]
if pairs:
    print("hash_adds_median=%s" % statistics.median(pairs))
# stage timings: the median of each stage over the hashed and full deploys
stages = {}
for kind in ("hash", "full"):
    for f in glob.glob(os.path.join(res, "deploy-%s-*.json" % kind)):
        for st in json.load(open(f)).get("timings", []):
            stages.setdefault(st["stage"], []).append(st["seconds"])
for k, v in stages.items():
    print("stage_%s=%s" % (k, statistics.median(v)))
print("stage_runs=%d" % len(stages.get("hash", [])))
print("deploy_rounds=%d" % len(t.get("tar", {})))
EOF
	else
		missing "deploy vs tar -x" "deploy of the site failed (exit $rc, see .bench/deploy-first.err)"
	fi
fi

# ---------------------------------------------------------------- a large site: rust-doc
# About 33,000 files and 600 MB: a full deploy (extract, hash, validate,
# commit, activate) against tar -xzf of the same archive, interleaved
# round by round, each into an empty directory after a sync; peak RSS of
# the releasectl process from /usr/bin/time.
BIG_SRC=/usr/share/doc/rust-doc/html
if [ -d "$BIG_SRC" ] && [ -x /usr/bin/time ]; then
	log "large site: rust-doc deploy vs tar -xzf"
	cp -rL "$BIG_SRC" "$OUT/big"
	figure big_files "$(find "$OUT/big" -type f | wc -l)"
	figure big_bytes "$(du -sb "$OUT/big" | cut -f1)"
	tar -C "$OUT/big" -czf "$OUT/big.tar.gz" .
	rm -rf "$OUT/big"
	BR=$OUT/big-root BT=$OUT/big-tar
	rounds=3
	[ -n "$QUICK" ] && rounds=1
	: >"$RES/big-rounds.txt"
	for i in $(seq "$rounds"); do
		for kind in tar deploy; do
			rm -rf "$BR" "$BT" && mkdir -p "$BR" "$BT" && sync
			case $kind in
			tar) cmd="tar -xzf $OUT/big.tar.gz -C $BT" ;;
			deploy) cmd="$CTL --root $BR --json deploy $OUT/big.tar.gz" ;;
			esac
			t0=$(date +%s%N)
			/usr/bin/time -o "$RES/big-$kind-$i.time" -f %M $cmd >"$RES/big-$kind-$i.json" 2>"$OUT/big-$kind-$i.err"
			rc=$?
			t1=$(date +%s%N)
			[ $rc = 0 ] || { missing "large site deploy" "$kind run $i exited $rc (see .bench/big-$kind-$i.err)"; break 2; }
			echo "$kind $i $(((t1 - t0) / 1000)) $(tail -1 "$RES/big-$kind-$i.time")" >>"$RES/big-rounds.txt"
		done
	done
	rm -rf "$BR" "$BT"
	python3 - "$RES" >>"$RES/figures.txt" <<'EOF2'
import json, statistics, sys, glob, os
res = sys.argv[1]
t, rss = {}, {}
for line in open(os.path.join(res, "big-rounds.txt")):
    kind, i, us, kb = line.split()
    t.setdefault(kind, []).append(int(us) / 1e6)
    rss.setdefault(kind, []).append(int(kb))
if "deploy" in t and "tar" in t:
    print("big_tar_median=%s" % statistics.median(t["tar"]))
    print("big_deploy_median=%s" % statistics.median(t["deploy"]))
    print("big_deploy_rss_kb=%d" % max(rss["deploy"]))
    print("big_rounds=%d" % len(t["deploy"]))
    stages = {}
    for f in glob.glob(os.path.join(res, "big-deploy-*.json")):
        for st in json.load(open(f)).get("timings", []):
            stages.setdefault(st["stage"], []).append(st["seconds"])
    print("big_stages=%s" % ", ".join("%s %.2f s" % (k, statistics.median(v)) for k, v in stages.items()))
EOF2
else
	missing "large site deploy" "rust-doc not installed (apt-get install -y rust-doc) or /usr/bin/time missing"
fi

# ---------------------------------------------------------------- disk: 10 releases vs 1
if [ "$SITE_FILES" -gt 0 ]; then
	log "disk used by 10 releases, one file changed each time"
	K=$OUT/disk-root
	mkdir -p "$K"
	cp -r "$OUT/site" "$OUT/site-k"
	ok=1
	for i in $(seq 1 10); do
		echo "<!-- change $i -->" >>"$OUT/site-k/index.html"
		"$CTL" --root "$K" deploy "$OUT/site-k" --keep 20 --no-validate >/dev/null 2>>"$OUT/disk.err" || { ok=0; break; }
		[ "$i" = 1 ] && figure disk_one "$(du -sb "$K/releases" | cut -f1)"
	done
	if [ $ok = 1 ]; then
		figure disk_ten "$(du -sb "$K/releases" | cut -f1)"
		figure disk_ten_human "$(du -sh "$K/releases" | cut -f1)"
		figure disk_releases "$(ls "$K/releases" | wc -l)"
	else
		missing "disk used by 10 releases" "a deploy failed (see .bench/disk.err)"
	fi
fi

# ---------------------------------------------------------------- validate vs htmltest
if [ "$SITE_FILES" -gt 0 ] && have htmltest && have hyperfine; then
	log "validate vs htmltest"
	cat >"$OUT/htmltest.yml" <<EOF
DirectoryPath: $OUT/site
CheckExternal: false
IgnoreDirectoryMissingTrailingSlash: true
OutputDir: $OUT/htmltest-out
EOF
	# Both exit non-zero on findings; time them regardless (-i).
	hf "$RES/htmltest.json" -N -i --warmup 1 --runs 3 "htmltest -c $OUT/htmltest.yml"
	# An empty root: nothing live to compare with (as htmltest has none).
	mkdir -p "$OUT/val-root"
	hf "$RES/validate.json" -N -i --warmup 1 --runs 3 "$CTL --root $OUT/val-root validate $OUT/site"
	if [ -s "$RES/htmltest.json" ] && [ -s "$RES/validate.json" ]; then
		figure htmltest_mean "$(stat_of "$RES/htmltest.json" mean)"
		figure validate_mean "$(stat_of "$RES/validate.json" mean)"
		rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
		figure htmltest_rss_kb "$(rss htmltest -c "$OUT/htmltest.yml")"
		figure validate_rss_kb "$(rss "$CTL" --root "$OUT/val-root" validate "$OUT/site")"
		"$CTL" --root "$OUT/val-root" validate "$OUT/site" >"$OUT/validate.txt" 2>&1
		figure validate_exit "$?"
	fi
else
	missing "validate vs htmltest" "htmltest (make tools), hyperfine or the site missing"
fi

# ---------------------------------------------------------------- S3 pull vs mc cp + tar -x
# releasectl does not link the S3 client: without a daemon it fetches s3://
# through bin/release-agent fetch-source (package fetchexec), built above.
s3_linked() {
	mkdir -p "$OUT/s3probe"
	local msg
	msg=$(AWS_ENDPOINT_URL=http://127.0.0.1:9 "$CTL" --root "$OUT/s3probe" stage s3://probe/x.tar.gz 2>&1)
	[[ $msg != *"unsupported scheme"* ]]
}
if have minio && have mc && [ "$SITE_FILES" -gt 0 ] && s3_linked; then
	log "S3 pull vs mc cp + tar -x"
	MD=$OUT/minio
	mkdir -p "$MD/data"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	AK=bench$RANDOM$RANDOM SK=secret$RANDOM$RANDOM$RANDOM
	MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK MINIO_BROWSER=off HOME=$MD \
		minio server --quiet --address 127.0.0.1:$PORT --console-address 127.0.0.1:0 "$MD/data" >"$MD/log" 2>&1 &
	MPID=$!
	for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/minio/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
	export MC_CONFIG_DIR=$MD/mc
	mc alias set bench "http://127.0.0.1:$PORT" "$AK" "$SK" >/dev/null 2>&1
	mc mb bench/site >/dev/null 2>&1 && mc cp "$OUT/site.tar.gz" bench/site/site.tar.gz >/dev/null 2>&1
	S=$OUT/s3-root X=$OUT/s3-tar
	hf "$RES/mc.json" -N --warmup 1 --runs "$DEPLOY_RUNS" \
		--prepare "sh -c 'rm -rf $X && mkdir -p $X'" "sh -c 'mc cp -q bench/site/site.tar.gz $X/a.tgz >/dev/null && tar -xzf $X/a.tgz -C $X'"
	AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1 \
		hf "$RES/s3deploy.json" -N --warmup 1 --runs "$DEPLOY_RUNS" \
		--prepare "sh -c 'rm -rf $S && mkdir -p $S'" "$CTL --root $S deploy s3://site/site.tar.gz --no-hash --no-validate"
	kill "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null
	if [ -s "$RES/mc.json" ] && [ -s "$RES/s3deploy.json" ]; then
		figure mc_mean "$(stat_of "$RES/mc.json" mean)"
		figure s3_mean "$(stat_of "$RES/s3deploy.json" mean)"
	else
		missing "S3 pull vs mc cp + tar -x" "a run failed (see .bench/hyperfine.log)"
	fi
else
	missing "S3 pull vs mc cp + tar -x (CLI)" "needs minio and mc (make tools) and bin/release-agent (fetch-source)"
fi

# ---------------------------------------------------------------- load and swaps
log "load under swaps (nginx, load client, wrk)"
BENCH_RESULTS=$RES timeout 900 $GO test -count=1 -timeout 15m -run 'TestLoadSwapsHashed|TestLoadSwapsNoHash|TestLoadWrkThroughput' -v ./test/loadtest >"$OUT/loadtest.txt" 2>&1 ||
	log "loadtest failed (see .bench/loadtest.txt)"

# ---------------------------------------------------------------- BENCHMARKS.md
log "writing BENCHMARKS.md"
python3 - "$RES" "$OUT" >BENCHMARKS.md <<'EOF'
import json, os, platform, re, subprocess, sys
res, out = sys.argv[1], sys.argv[2]
F = {}
for line in open(os.path.join(res, "figures.txt")):
    k, _, v = line.rstrip("\n").partition("=")
    F[k] = v
def num(k):
    try: return float(F[k])
    except (KeyError, ValueError): return None
def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return "?"
def ms(s): return "%.2f ms" % (s * 1e3)
rows, notes = [], []
def row(name, value, baseline, ratio, target, ok):
    verdict = "—" if ok is None else ("meets" if ok else "**misses**")
    rows.append("| %s | %s | %s | %s | %s | %s |" % (name, value, baseline, ratio, target, verdict))
def miss(name, why): rows.append("| %s | not measured | | | | %s |" % (name, why))

mem = sh("free -g | awk '/Mem:/{print $2\" GiB\"}'")
cpu = sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
disk = sh("findmnt -no SOURCE,FSTYPE --target %s" % out)
print("# Benchmarks\n")
print("Regenerated by `make bench` (scripts/bench.sh); do not edit. Every figure is a ratio")
print("against a baseline measured in the same run on the same machine.\n")
print("## Machine\n")
print("| | |\n|---|---|")
print("| CPUs (nproc) | %s |" % sh("nproc"))
print("| CPU | %s |" % (cpu or "?"))
print("| memory | %s |" % mem)
print("| kernel | %s |" % platform.release())
print("| disk (benchmark directory) | %s |" % disk)
print("| Go | %s |" % sh("go version"))
print("| date | %s |" % sh("date -u +%Y-%m-%dT%H:%MZ"))
if "site_files" in F:
    print("\nReal site: python3.11-doc HTML (`cp -rL`), %s files, %.1f MB; tar.gz %.1f MB.\n" % (
        F["site_files"], num("site_bytes") / 1e6, num("archive_bytes") / 1e6))

print("## Against baselines\n")
print("| figure | value | baseline | ratio | target | |")
print("|---|---|---|---|---|---|")
rb, mv = num("rollback_mean"), num("mv_mean")
if rb and mv:
    r = rb / mv
    row("`releasectl rollback` (whole process, mean of %s)" % F.get("rollback_n"), ms(rb), "`mv -T` of a symlink: " + ms(mv), "%.2f×" % r, "", None)
    if "rollback_block_ratios" in F:
        notes.append("Rollback vs mv -T, alternating in blocks: the ratio of the means of each block ranged " + F["rollback_block_ratios"] + ".")
    row("rollback latency p50 / p99", "%s / %s" % (ms(num("rollback_p50")), ms(num("rollback_p99"))), "mv -T p50 / p99: %s / %s" % (ms(num("mv_p50")), ms(num("mv_p99"))), "%.2f× / %.2f×" % (num("rollback_p50") / num("mv_p50"), num("rollback_p99") / num("mv_p99")), "p50 ≤ 4× mv -T", num("rollback_p50") / num("mv_p50") <= 4)
    if num("switch_p50") is not None:
        row("the switch inside `releasectl rollback` p50 / p99 (lock to durable swap and journal line, %s runs)" % F.get("switch_n"), "%s / %s" % (ms(num("switch_p50")), ms(num("switch_p99"))), "", "", "p50 ≤ 2 ms", num("switch_p50") <= 0.002)
else:
    miss("rollback vs mv -T", "see below")
dp, tr = num("deploy_median"), num("tar_median")
if dp and tr:
    n = F.get("deploy_rounds")
    b = num("deploy_bare_median")
    row("`releasectl deploy site.tar.gz --no-hash --no-validate` (median of %s, interleaved with tar)" % n, ms(b), "`tar -xzf`: " + ms(tr), "%.2f×" % (b / tr), "≤ 1.5× tar -x", b / tr <= 1.5)
    row("`releasectl deploy site.tar.gz` (hashing and validation on)", ms(dp), "`tar -xzf`: " + ms(tr), "%.2f×" % (dp / tr), "", None)
    h, ts = num("stage_hash"), num("tar_series_median") or tr
    if h is not None:
        base = min(tr, ts)
        row("hashing stage of a deploy (median of %s)" % F.get("stage_runs"), ms(h), "`tar -xzf`: %s (%s after a sync)" % (ms(ts), ms(tr)), "%.0f%%" % (100 * h / base), "≤ 50% of tar -x", h / base <= 0.5)
    dh = num("hash_adds_median")
    if dh is not None:
        base = min(tr, ts)
        row("what hashing adds to a deploy (median of hashed minus bare deploy, same round)", ms(dh), "`tar -xzf`: " + ms(base), "%.0f%%" % (100 * dh / base), "≤ 50% of tar -x", dh / base <= 0.5)
    stages = ", ".join("%s %s" % (k[6:], ms(float(v))) for k, v in F.items() if k.startswith("stage_") and k != "stage_runs")
    notes.append("Stages of a deploy of the site (medians): " + stages + ".")
    if "deploy_validation" in F: notes.append("Validation of the site: " + F["deploy_validation"] + ".")
else:
    miss("deploy vs tar -x", "see below")
bd, bt = num("big_deploy_median"), num("big_tar_median")
if bd and bt:
    row("`releasectl deploy` of rust-doc (%s files, %.0f MB; hashing and validation on; median of %s, interleaved with tar)" % (F.get("big_files"), num("big_bytes") / 1e6, F.get("big_rounds")), ms(bd), "`tar -xzf`: " + ms(bt), "%.2f×" % (bd / bt), "≤ 1.5× tar -x", bd / bt <= 1.5)
    br = num("big_deploy_rss_kb")
    row("peak RSS of that deploy (max of the rounds)", "%.0f MB" % (br / 1024), "", "", "< 150 MB", br / 1024 < 150)
    notes.append("Stages of the rust-doc deploy (medians): " + F.get("big_stages", "?") + ".")
else:
    miss("deploy of rust-doc", "see below")
one, ten = num("disk_one"), num("disk_ten")
if one and ten:
    r = ten / one
    row("disk of 10 releases, one file changed each (`du`, hardlinks once)", "%.1f MB (%s)" % (ten / 1e6, F.get("disk_ten_human")), "one release: %.1f MB" % (one / 1e6), "%.3f×" % r, "≤ 1.15× one", r <= 1.15)
else:
    miss("disk of 10 releases", "see below")
va, ht = num("validate_mean"), num("htmltest_mean")
if va and ht:
    r = ht / va
    row("`releasectl validate` of the site", ms(va), "htmltest: " + ms(ht), "%.1f× faster" % r, "≥ 4× faster", r >= 4)
    notes.append("`releasectl validate` of the site exited %s (3: blocking findings, mostly the file:// links of Debian's python docs; timing is for the full check either way)." % F.get("validate_exit", "?"))
    vr, hr = num("validate_rss_kb"), num("htmltest_rss_kb")
    if vr and hr:
        row("validate peak RSS", "%.0f MB" % (vr / 1024), "htmltest: %.0f MB" % (hr / 1024), "%.2f of it" % (vr / hr), "≤ 1/10 of htmltest", vr / hr <= 0.1)
else:
    miss("validate vs htmltest", "see below")
s3, mc = num("s3_mean"), num("mc_mean")
if s3 and mc:
    r = s3 / mc
    row("`releasectl deploy s3://…` (--no-hash --no-validate)", ms(s3), "`mc cp` + `tar -x`: " + ms(mc), "%.2f×" % r, "≤ 1.2×", r <= 1.2)
else:
    miss("S3 pull vs mc cp + tar -x (CLI)", "see below")
print("\n".join(rows))

# load tests
def load(name):
    p = os.path.join(res, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
print("\n## Under load (nginx on 127.0.0.1, root at ROOT/current, open_file_cache off)\n")
lh, ln, wk = load("loadtest-hashed"), load("loadtest-no-hash"), load("wrk")
if lh or ln:
    print("| run | swaps | page loads | requests | non-2xx | connection errors | mixed pages | crossed a swap |")
    print("|---|---|---|---|---|---|---|---|")
    for l in (lh, ln):
        if not l: continue
        r = l["result"]
        print("| %s | %d | %d | %d | %d | %d | %d | %d |" % (l["mode"], l["swaps"], r["page_loads"], r["requests"], r["non_2xx"], r["conn_errors"], r["mixed_pages"], r["crossed_swaps"]))
    print("\nTargets: 0 non-2xx, 0 connection errors, 0 mixed pages with hashing; without hashing mixed pages are expected (that is what hashing fixes).")
else:
    print("Load runs not measured (see .bench/loadtest.txt).")
if wk:
    print("\nwrk (%ds, 1 thread, 8 connections, one page): %.0f req/s quiet, %.0f req/s during %d deploys/rollbacks: **%.2f×** of quiet throughput; errors %d / %d." % (
        wk["seconds"], wk["quiet"]["requests_sec"], wk["swapping"]["requests_sec"], wk["swaps_during"], wk["ratio"],
        wk["quiet"]["non_2xx_3xx"] + wk["quiet"]["socket_errors"], wk["swapping"]["non_2xx_3xx"] + wk["swapping"]["socket_errors"]))

# Go benchmarks
print("\n## Go benchmarks\n")
gb = open(os.path.join(res, "gobench.txt")).read() if os.path.exists(os.path.join(res, "gobench.txt")) else ""
lines = [l for l in gb.splitlines() if l.startswith("Benchmark")]
if lines:
    print("`go test -run '^$' -bench . ./...`; custom metrics are ratios or times against the baseline named in the unit.\n")
    print("```\n" + "\n".join(lines) + "\n```")
else:
    print("No Go benchmark ran (see .bench/gobench.txt).")
fails = [l for l in gb.splitlines() if l.startswith("FAIL") or l.startswith("--- SKIP") or l.startswith("--- FAIL")]
if fails:
    print("\nPackages whose benchmarks failed or skipped:\n\n```\n" + "\n".join(fails[:30]) + "\n```")

miss_lines = [l.split("\t", 1) for l in open(os.path.join(res, "missing.txt")).read().splitlines() if l]
if miss_lines or notes:
    print("\n## Notes\n")
    for n in notes: print("- " + n)
    for k, why in miss_lines: print("- Not measured: %s: %s." % (k, why))
EOF
BENCH_OUT=$OUT BENCH_NO_BUILD=1 scripts/bench-notify.sh >>BENCHMARKS.md  # notify-to-live (issue 14)
[ "$SITE_FILES" -gt 0 ] && scripts/bench-cictl.sh "$CTL" "$OUT/site" "$OUT" "$DEPLOY_RUNS" >>BENCHMARKS.md
BENCH_GOBENCH=$OUT/gobench.txt scripts/bench-incremental.sh >>BENCHMARKS.md  # scale: incremental S3 pull
scripts/bench-sites.sh >>BENCHMARKS.md  # scale: 1,000 inbox sites
scripts/bench-fleet.sh >>BENCHMARKS.md  # issue 16: fleet switch, rollback, staging
scripts/bench-accesslog.sh >>BENCHMARKS.md  # the follower of [site.watch] at 20,000 req/s vs nginx
scripts/bench-adopt.sh "$OUT" "$CTL" "$SITE_SRC" >>BENCHMARKS.md 2>>"$OUT/bench-adopt.log" || log "bench-adopt failed (see .bench/bench-adopt.log)"
log "done: BENCHMARKS.md"
