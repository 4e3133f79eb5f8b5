#!/usr/bin/env bash
# Runs every benchmark against an optimized build (build-bench/) and prints
# the figures. Run it on a quiet machine: the figures are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh bench
[ -f build-bench/build.ninja ] || meson setup build-bench -Dbuildtype=release >/dev/null
meson compile -C build-bench >/dev/null
echo "== bus handoff"
build-bench/tests/bench/bench_bus 20000000
echo "== Extended JSON parsing (ours beside libbson's)"
events=$(mktemp)
/usr/bin/python3 tests/integration/gen_changes.py 20000 "$events" --size 300
build-bench/tests/bench/bench_parse "$events"
rm -f "$events"
echo "== jsonl -> file end to end (tmpfs, then disk)"
BENCH_TMP=/dev/shm /usr/bin/python3 tests/bench/bench_replay.py --build build-bench --events 2000000
/usr/bin/python3 tests/bench/bench_replay.py --build build-bench --events 2000000
echo "== jsonl -> http webhooks (nginx answering 204), beside wrk on the same nginx"
/usr/bin/python3 tests/bench/bench_http.py --build build-bench --events 200000 --concurrency 32
