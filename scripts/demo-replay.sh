#!/usr/bin/env bash
# The offline example (no MongoDB): builds changecast; the jsonl source
# replays the sample change events in etc/sample-changes.jsonl (users,
# inventory and orders of a small shop) into the file sink on stdout, one
# envelope a line, then stops. Metrics: http://127.0.0.1:9464/metrics while
# it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
[ -f build/build.ninja ] || meson setup build >/dev/null
log=$(mktemp)
meson compile -C build >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"
rm -f /tmp/changecast-demo.state    # replay from the start every time
export CHANGECAST_PLUGIN_DIR="$PWD/build/plugins"
exec build/core/changecast run -c etc/demo-replay.json "$@"
