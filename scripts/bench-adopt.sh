#!/usr/bin/env bash
# bench-adopt.sh OUT CTL [SITE_SRC]: time `releasectl adopt` of a
# Capistrano-style root (RELEASES copies of a real site, current -> the
# newest) against two baselines measured in the same run on the same
# trees: `cp -al` of every release (hardlinking alone, no manifest, no
# fsync) and `releasectl deploy DIR --no-hash --no-validate` of every
# release into a fresh store (importing them as ordinary deploys); and the
# disk releases/ uses before and after (identical files hardlinked).
# Prints a Markdown section on stdout (bench.sh appends it to
# BENCHMARKS.md); the median of RUNS runs of each.
set -uo pipefail
OUT=${1:?OUT} CTL=${2:?CTL} SITE_SRC=${3:-/usr/share/doc/python3.11/html}
RELEASES=${RELEASES:-5} RUNS=${RUNS:-3}
W=$OUT/adopt
echo
echo "## Adopting a Capistrano root (scripts/bench-adopt.sh)"
echo
if [ ! -d "$SITE_SRC" ]; then
	echo "Not measured: $SITE_SRC missing (apt-get install -y python3.11-doc)."
	exit 0
fi
rm -rf "$W" && mkdir -p "$W/src"
for i in $(seq 1 "$RELEASES"); do
	cp -rL "$SITE_SRC" "$W/src/2025010${i}120000"
	echo "release $i" >"$W/src/2025010${i}120000/REVISION"
done
FILES=$(find "$W/src" -type f | wc -l)
BYTES=$(du -sb "$W/src" | cut -f1)
# fresh ROOT: a Capistrano root built from the sources by cp -al
# (same inodes, so each run starts from the same state without copying data).
fresh() {
	rm -rf "$W/root" && mkdir -p "$W/root/releases" "$W/root/shared"
	for d in "$W"/src/*; do cp -al "$d" "$W/root/releases/$(basename "$d")"; done
	ln -s "$W/root/releases/$(ls "$W/src" | tail -1)" "$W/root/current"
	sync
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t_adopt=() t_cp=() t_deploy=()
for _ in $(seq 1 "$RUNS"); do
	fresh
	du_before=$(du -sb "$W/root/releases" | cut -f1)
	s=$(now); "$CTL" --root "$W/root" adopt >/dev/null || { echo "adopt failed"; exit 0; }; e=$(now)
	t_adopt+=($(( (e - s) / 1000 )))
	du_after=$(du -sb "$W/root/releases" | cut -f1)
	fresh
	s=$(now); for d in "$W"/root/releases/*; do cp -al "$d" "$W/root/clone-$(basename "$d")"; done; e=$(now)
	t_cp+=($(( (e - s) / 1000 )))
	rm -rf "$W/store" && mkdir -p "$W/store" && sync
	s=$(now); for d in "$W"/src/*; do "$CTL" --root "$W/store" deploy "$d" --no-hash --no-validate >/dev/null 2>&1 || { echo "deploy failed"; exit 0; }; done; e=$(now)
	t_deploy+=($(( (e - s) / 1000 )))
done
a=$(printf '%s\n' "${t_adopt[@]}" | median)
c=$(printf '%s\n' "${t_cp[@]}" | median)
d=$(printf '%s\n' "${t_deploy[@]}" | median)
rm -rf "$W"
echo "$RELEASES releases of $SITE_SRC ($FILES files, $BYTES bytes in all), median of $RUNS runs."
echo
echo "| | time | ratio to adopt |"
echo "|---|---|---|"
awk -v a="$a" -v c="$c" -v d="$d" 'BEGIN {
	printf "| releasectl adopt | %.0f ms | 1.00 |\n", a/1000
	printf "| cp -al of every release (baseline: hardlinks only) | %.0f ms | %.2f |\n", c/1000, c/a
	printf "| releasectl deploy --no-hash --no-validate of every release | %.0f ms | %.2f |\n", d/1000, d/a
}'
echo
echo "Disk used by releases/ (du, each inode once): $du_before bytes before adoption, $du_after after (ratio $(awk -v a="$du_after" -v b="$du_before" 'BEGIN{printf "%.2f", a/b}'))."
