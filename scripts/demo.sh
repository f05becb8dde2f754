#!/usr/bin/env bash
# The quick start: deploy the bundled example site twice into a temporary
# release root, list, roll back, and show what is live.
set -euo pipefail
cd "$(dirname "$0")/.."
ctl=bin/releasectl
root=$(mktemp -d /tmp/release-demo.XXXXXX)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "demo release root: $root"
# A build pipeline would publish an archive; make one from the example site.
cp -r examples/site "$work/site"
sed -i 's/RELEASE_MARKER/first build/' "$work/site/index.html"
tar -C "$work/site" -czf "$work/site-1.tar.gz" .
run $ctl --root "$root" deploy "$work/site-1.tar.gz"

# The second build changes one page and the stylesheet.
sed -i 's/first build/second build/' "$work/site/index.html"
echo 'h1 { color: #2a6; }' >> "$work/site/css/site.css"
tar -C "$work/site" -czf "$work/site-2.tar.gz" .
run $ctl --root "$root" deploy "$work/site-2.tar.gz"

run $ctl --root "$root" list
run $ctl --root "$root" diff v1 v2
run $ctl --root "$root" rollback
run $ctl --root "$root" status
run $ctl --root "$root" history
printf '\ncurrent -> %s\n' "$(readlink "$root/current")"
grep -o 'Release: <span id="release">[^<]*' "$root/current/index.html" | sed 's/.*>/live page says: /'
echo
echo "try more: $ctl --root $root --help   (remove the demo with: rm -rf $root)"
