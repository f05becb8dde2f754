#!/usr/bin/env bash
# bench-notify.sh: notification to live through the daemon, as a ratio to a
# local `releasectl deploy` of the same artifact measured in the same run.
#
# A real MinIO on 127.0.0.1 and one release-agent with two sites: "listen"
# (s3_listen only, bucket listen) and "hook" (webhook only, bucket hook,
# MinIO's webhook target set up with `mc admin config set` + `mc event add`
# as README.md says). Each round deploys a fresh variant of the
# python3.11-doc tarball three ways, one after the other: `releasectl
# --root R deploy FILE` (the baseline), `mc cp` to the listen bucket, `mc
# cp` to the hook bucket; for the uploads the time runs from the moment
# `mc cp` exits to the moment ROOT/current points at a new release
# (readlink every 2 ms). Every site deploys on top of a live release of the
# same tree, as the baseline does.
#
# Prints a Markdown section on stdout (bench.sh appends it to
# BENCHMARKS.md); logs, the daemon's log and raw times go to $OUT.
#
#   NOTIFY_ROUNDS=5   rounds (BENCH_QUICK=1: 2)
#   BENCH_OUT=DIR     where to work (default .bench)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PATH="$REPO/.tools/bin:$PATH"
OUT=${BENCH_OUT:-$REPO/.bench}/notify
ROUNDS=${NOTIFY_ROUNDS:-5}
[ -n "${BENCH_QUICK:-}" ] && ROUNDS=2
SITE_SRC=/usr/share/doc/python3.11/html
log() { printf '[bench-notify %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
section() { printf '\n## Notification to live (release-agent, MinIO on 127.0.0.1)\n\n%s\n' "$1"; }

for tool in minio mc python3 curl; do
	command -v $tool >/dev/null 2>&1 || { section "Not measured: $tool not installed (make tools)."; exit 0; }
done
[ -d "$SITE_SRC" ] || { section "Not measured: python3.11-doc not installed."; exit 0; }

rm -rf "$OUT"
mkdir -p "$OUT" "$REPO/bin"
if [ ! -x bin/release-agent ] || [ ! -x bin/releasectl ] || [ -z "${BENCH_NO_BUILD:-}" ]; then
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o bin/releasectl ./cmd/releasectl &&
		CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o bin/release-agent ./cmd/agent ||
		{ section "Not measured: build failed."; exit 0; }
fi
AGENT=$REPO/bin/release-agent CTL=$REPO/bin/releasectl

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

log "site: cp -rL $SITE_SRC"
cp -rL "$SITE_SRC" "$OUT/site"
# Variants: one comment more in index.html each, so every upload is a new artifact.
for i in $(seq 0 "$ROUNDS"); do
	echo "<!-- notify bench $i -->" >>"$OUT/site/index.html"
	tar -C "$OUT/site" -czf "$OUT/v$i.tar.gz" .
done

# MinIO.
MPORT=$(freeport) HPORT=$(freeport)
AK=bench$RANDOM$RANDOM SK=secret$RANDOM$RANDOM$RANDOM
mkdir -p "$OUT/minio/data"
MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK MINIO_BROWSER=off MINIO_UPDATE=off HOME=$OUT/minio \
	minio server --quiet --address 127.0.0.1:$MPORT --console-address 127.0.0.1:0 "$OUT/minio/data" >"$OUT/minio.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$MPORT/minio/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
export MC_CONFIG_DIR=$OUT/mc
mc alias set bench "http://127.0.0.1:$MPORT" "$AK" "$SK" >/dev/null
mc mb bench/listen bench/hook >/dev/null

# release-agent: two sites, one trigger each.
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$OUT/webhook.token"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AK" "$SK" >"$OUT/credentials"
cat >"$OUT/config.toml" <<EOF
[daemon]
control_socket = "$OUT/control.sock"
webhook_listen = "127.0.0.1:$HPORT"
webhook_token_file = "$OUT/webhook.token"

[s3]
endpoint = "127.0.0.1:$MPORT"
region = "us-east-1"
insecure = true
credentials_file = "$OUT/credentials"

[[site]]
name = "listen"
root = "$OUT/root-listen"
source = "s3://listen/site.tar.gz"
[site.triggers]
s3_listen = true

[[site]]
name = "hook"
root = "$OUT/root-hook"
source = "s3://hook/site.tar.gz"
[site.triggers]
webhook = true
EOF
"$AGENT" --config "$OUT/config.toml" 2>"$OUT/agent.log" &
PIDS+=($!)
for _ in $(seq 1 300); do [ -S "$OUT/control.sock" ] && break; sleep 0.05; done

# The webhook target, exactly as README.md says.
mc admin config set bench notify_webhook:release-agent endpoint="http://127.0.0.1:$HPORT/v0/hook/hook" auth_token="$TOKEN" >"$OUT/mc-config.log" 2>&1
if grep -qi restart "$OUT/mc-config.log"; then
	mc admin service restart bench --json --wait >>"$OUT/mc-config.log" 2>&1
	for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$MPORT/minio/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
fi
mc event add bench/hook arn:minio:sqs::release-agent:webhook --event put --suffix site.tar.gz >>"$OUT/mc-config.log" 2>&1 ||
	{ section "Not measured: mc event add failed (see $OUT/mc-config.log)."; exit 0; }

log "$ROUNDS rounds: local deploy, listen, webhook"
if ! python3 - "$OUT" "$CTL" "$ROUNDS" >"$OUT/section.md" 2>"$OUT/driver.log" <<'EOF'; then
import datetime, json, os, re, statistics, subprocess, sys, time
out, ctl, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = dict(os.environ)

def cur(root):
    try:
        return os.readlink(os.path.join(root, "current"))
    except OSError:
        return ""

def wait_change(root, before, limit=120):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        c = cur(root)
        if c and c != before:
            return time.monotonic()
        time.sleep(0.002)
    raise SystemExit("no new release in %s within %ds (see agent.log)" % (root, limit))

ends = {}  # (site, release) -> wall-clock end of the upload
def notify(site, art):
    root = os.path.join(out, "root-" + site)
    before = cur(root)
    t0 = time.monotonic()
    subprocess.run(["mc", "cp", "-q", art, "bench/%s/site.tar.gz" % site], check=True, env=env, stdout=subprocess.DEVNULL)
    t1, w1 = time.monotonic(), time.time()
    t2 = wait_change(root, before)
    ends[(site, os.path.basename(cur(root)))] = w1
    return t2 - t1, t1 - t0

local_root = os.path.join(out, "root-local")
os.makedirs(local_root, exist_ok=True)
local_stages = []
def local(art):
    t0 = time.monotonic()
    p = subprocess.run([ctl, "--root", local_root, "--json", "deploy", art], check=True, env=env, capture_output=True, text=True)
    t = time.monotonic() - t0
    local_stages.append({s["stage"]: s["seconds"] for s in json.loads(p.stdout).get("timings", [])})
    return t

# Round 0 is the first release of every root (untimed): later rounds deploy
# on top of a live release, hardlinking unchanged files, in all three.
art0 = os.path.join(out, "v0.tar.gz")
local(art0)
local_stages.clear()
notify("listen", art0)
notify("hook", art0)
t = {"local": [], "listen": [], "hook": [], "upload": []}
for i in range(1, rounds + 1):
    art = os.path.join(out, "v%d.tar.gz" % i)
    t["local"].append(local(art))
    n, u = notify("listen", art)
    t["listen"].append(n)
    t["upload"].append(u)
    n, u = notify("hook", art)
    t["hook"].append(n)
    print("round %d: local %.3f s, listen %.3f s, webhook %.3f s" % (i, t["local"][-1], t["listen"][-1], t["hook"][-1]), file=sys.stderr)

# The daemon's own account of each deploy: when the event arrived
# (since_event before the log line), and its stage timings.
def dur(s):
    m = re.fullmatch(r"([0-9.]+)(ms|s|µs)", s)
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, "µs": 1e-6}[m.group(2)] if m else None
brk = {"listen": [], "hook": []}
for line in open(os.path.join(out, "agent.log")):
    if 'msg="trigger: deployed"' not in line:
        continue
    f = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    site, rel = f.get("site"), f.get("release")
    if (site, rel) not in ends or rel == "v1":
        continue
    at = datetime.datetime.fromisoformat(f["time"].replace("Z", "+00:00")).timestamp()
    since = dur(f["since_event"])
    stages = dict((k, float(v.rstrip("s"))) for k, v in re.findall(r"(\w+)=([0-9.]+s)", f["stages"].strip('"')))
    received = at - since
    brk[site].append({"event": received - ends[(site, rel)], "pipeline": sum(stages.values()), "queue": since - sum(stages.values()), **stages})

with open(os.path.join(out, "times.txt"), "w") as fh:
    for k, v in t.items():
        fh.write("%s %s\n" % (k, " ".join("%.4f" % x for x in v)))
med = {k: statistics.median(v) for k, v in t.items()}
loc = med["local"]
def row(name, k):
    v = med[k]
    ok = v <= loc + 0.25
    return "| %s | %.0f ms | %.0f ms | %.2f× | %+.0f ms | %s |" % (name, v * 1e3, loc * 1e3, v / loc, (v - loc) * 1e3, "meets" if ok else "**misses**")
print("python3.11-doc tarball (%.1f MB); medians of %d rounds, each round timing a local deploy, a listen upload and a webhook upload of the same new artifact one after the other. Notify-to-live runs from the end of `mc cp` to the new `current` (read every 2 ms). Target: at most a local deploy + 250 ms.\n" % (os.path.getsize(art0) / 1e6, rounds))
print("| trigger | upload end → live | `releasectl deploy FILE` | ratio | difference | target |")
print("|---|---|---|---|---|---|")
print(row("listen (`s3_listen = true`)", "listen"))
print(row("webhook (MinIO `notify_webhook`)", "hook"))
def m(xs, k):
    v = [x[k] for x in xs if k in x]
    return "%.0f ms" % (statistics.median(v) * 1e3) if v else "—"
names = ["fetch", "hash", "validate", "commit", "activate", "prune"]
print("\nWhere the time goes (medians; from the daemon's `trigger: deployed` lines and `releasectl --json` timings). *event*: from the end of `mc cp` to the daemon receiving the notification (negative: it arrived before `mc` exited); *queue*: from the notification to the end of the pipeline minus the pipeline's stages (queue, work loop, pipeline start-up).\n")
print("| | event | queue | " + " | ".join(names) + " | whole |")
print("|---|---|---|" + "---|" * len(names) + "---|")
for label, k in (("listen", "listen"), ("webhook", "hook")):
    print("| %s | %s | %s | %s | %s |" % (label, m(brk[k], "event"), m(brk[k], "queue"), " | ".join(m(brk[k], n) for n in names), "%.0f ms" % (med[k] * 1e3)))
print("| `releasectl deploy FILE` | | | %s | %.0f ms (process) |" % (" | ".join(m(local_stages, n) for n in names), loc * 1e3))
print("\n`mc cp` itself took %.0f ms (median). Raw times: .bench/notify/times.txt; the daemon's log: .bench/notify/agent.log." % (med["upload"] * 1e3))
EOF
	section "Not measured: the run failed ($(tail -1 "$OUT/driver.log"); see $OUT/driver.log, $OUT/agent.log)."
	exit 0
fi
cat "$OUT/driver.log" >&2
section "$(cat "$OUT/section.md")"
