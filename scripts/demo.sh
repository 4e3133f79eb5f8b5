#!/usr/bin/env bash
# changecast live: starts the MongoDB peer (tests/peers/mongo_peer.py, a
# local stand-in for a replica-set primary) unless $MONGO_URI is set, the
# activity generator (scripts/demo-activity.py), and changecast on
# etc/demo.json: the mongo source into
#   - a WebSocket/SSE feed of every change, with the viewer page at
#     http://127.0.0.1:8000/
#   - per-user WebSocket/SSE delivery at http://127.0.0.1:8001/ (viewer;
#     recipient e.g. user_ada) and ws://127.0.0.1:8001/ws/<user id>
#   - the file sink on stdout, one envelope a line.
# Ctrl-C stops all three. Metrics and /healthz: http://127.0.0.1:9464/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh demo
[ -f build/build.ninja ] || meson setup build >/dev/null
log=$(mktemp)
meson compile -C build >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"

pids=()
tmp=$(mktemp -d)
cleanup() {
    # Newest first: the generator, changecast, then the peer.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${MONGO_URI:-}" ]; then
    /usr/bin/python3 tests/peers/mongo_peer.py --port 0 --port-file "$tmp/port" \
        2>"$tmp/peer.log" >/dev/null &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
    [ -s "$tmp/port" ] || { echo "the peer did not start:" >&2; cat "$tmp/peer.log" >&2; exit 1; }
    export MONGO_URI="mongodb://127.0.0.1:$(cat "$tmp/port")/?replicaSet=rs0"
    echo "demo: MongoDB peer at $MONGO_URI (set MONGO_URI to use a real replica set)" >&2
fi
rm -f /tmp/changecast-demo.state    # start from now every time
export CHANGECAST_PLUGIN_DIR="$PWD/build/plugins"
build/core/changecast run -c etc/demo.json "$@" &
pids+=($!)
# The generator starts once the change streams are open (/healthz 200).
for _ in $(seq 100); do
    curl -sf http://127.0.0.1:9464/healthz >/dev/null 2>&1 && break
    sleep 0.1
done
echo "demo: live feed in the viewer at http://127.0.0.1:8000/ ;" \
     "one user's events at http://127.0.0.1:8001/?recipient=user_ada" >&2
/usr/bin/python3 scripts/demo-activity.py --uri "$MONGO_URI" &
pids+=($!)
wait "${pids[-2]}"
