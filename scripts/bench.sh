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
echo "== MongoDB peer -> mongo source -> file, beside a bare libmongoc change-stream loop"
/usr/bin/python3 tests/bench/bench_mongo.py --build build-bench --events 300000 --repeat 3
echo "== jsonl -> database sink (MongoDB peer), beside a bare libmongoc bulk-insert loop"
BENCH_TMP=/dev/shm /usr/bin/python3 tests/bench/bench_database.py --build build-bench --events 100000
echo "== jsonl -> redis sink, beside redis-benchmark -P 16 PUBLISH on the same server"
/usr/bin/python3 tests/bench/bench_redis.py --build build-bench --events 500000
echo "== websocket broadcast to 10,000 clients (C epoll client)"
/usr/bin/python3 tests/bench/bench_ws.py --build build-bench --conns 10000 --events 100 --rate 30
