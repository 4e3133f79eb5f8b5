#!/usr/bin/python3
"""jsonl -> redis (PUBLISH) end to end, beside redis-benchmark on the same server.

    tests/bench/bench_redis.py [--events N] [--size BYTES] [--stream] [--repeat R]
                               [--build DIR]

Starts redis-server on a loopback port (no persistence) in a temporary
folder. The yardstick first: `redis-benchmark -P 16 -n N -q PUBLISH chan
<BYTES-byte payload>` (16 commands pipelined per connection, 50 clients):
what Redis takes in PUBLISHes per second on this machine. Then changecast:
N generated change events (tests/integration/gen_changes.py, --size BYTES)
through the jsonl source (on_eof finish) into the redis sink, timed from
start until the daemon exits by itself (every event acknowledged by Redis).
Redis' own counter (INFO stats: total_commands_processed) confirms the
PUBLISHes arrived. Prints both rates and the ratio. Goal (issue): >= 70% of
the yardstick. --stream adds XADD (two commands per event).

For context it also times the same replay into the file sink writing to
/dev/null: the ceiling the core (parsing, envelopes, bus) sets on any sink
on this machine; and the sink alone (build/tests/bench/bench_redis_sink:
N pre-built envelopes of BYTES bytes handed to the plugin on the unit
tests' mock host, timed until Redis answered all). Each figure is the best of --repeat runs (default 3), the
runs interleaved, since a shared machine's load moves all of them.
"""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
GOAL = 0.70

ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=500_000)
ap.add_argument("--size", type=int, default=300)
ap.add_argument("--stream", action="store_true")
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--build", default=os.path.join(root, "build"))
a = ap.parse_args()
a.build = os.path.abspath(a.build)

server = shutil.which("redis-server")
bench = shutil.which("redis-benchmark")
cli = shutil.which("redis-cli")
if not server or not bench or not cli:
    sys.exit("bench_redis: needs redis-server, redis-benchmark and redis-cli "
             "(apt-get install redis-server redis-tools)")
if not os.path.isfile(os.path.join(a.build, "plugins", "redis.so")):
    sys.exit("bench_redis: no redis.so in %s/plugins (build first)" % a.build)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis(port, *args):
    return subprocess.run([cli, "-p", str(port), *args], capture_output=True, text=True,
                          check=True).stdout


def commands(port):
    return int(re.search(r"total_commands_processed:(\d+)", redis(port, "INFO", "stats")).group(1))


with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
    port = free_port()
    srv = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
                            "--save", "", "--appendonly", "no", "--loglevel", "warning"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis(port, "PING").strip() == "PONG":
                    break
            except subprocess.CalledProcessError:
                pass
            if time.monotonic() > deadline:
                sys.exit("bench_redis: redis-server did not come up")
            time.sleep(0.05)

        payload = "x" * a.size
        events = os.path.join(tmp, "changes.jsonl")
        subprocess.run([sys.executable, os.path.join(root, "tests", "integration",
                                                     "gen_changes.py"),
                        str(a.events), events, "--size", str(a.size)], check=True)

        def yardstick():
            cmd = [bench, "-p", str(port), "-P", "16", "-n", str(a.events), "-q",
                   "PUBLISH", "chan", payload]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            m = re.findall(r"([\d.]+) requests per second", out)
            if not m:
                sys.exit("bench_redis: cannot read redis-benchmark's output:\n" + out)
            return float(m[-1])

        def replay(sink_plugin, sink):
            manifest = os.path.join(tmp, "m.json")
            state = os.path.join(tmp, "state")
            if os.path.exists(state):
                os.unlink(state)
            with open(manifest, "w") as f:
                json.dump({"plugin_dir": os.path.join(a.build, "plugins"),
                           "state": {"path": state},
                           "log": {"level": "warn"},
                           "sources": [{"name": "replay", "plugin": "jsonl",
                                        "config": {"path": events,
                                                   "recipient": "fullDocument.owner",
                                                   "on_eof": "finish"}}],
                           "sinks": [{"name": "s", "plugin": sink_plugin, "config": sink}]}, f)
            t0 = time.monotonic()
            rc = subprocess.run([os.path.join(a.build, "core", "changecast"), "run", "-c",
                                 manifest], stdin=subprocess.DEVNULL).returncode
            wall = time.monotonic() - t0
            if rc != 0:
                sys.exit("bench_redis: changecast exited with %d" % rc)
            return a.events / wall

        sink = {"uri": "redis://127.0.0.1:%d/0" % port}
        if a.stream:
            sink["stream"] = {"key": "changes", "maxlen": 100000}
        per = 2 if a.stream else 1
        sink_bin = os.path.join(a.build, "tests", "bench", "bench_redis_sink")

        def sink_alone():
            if not os.path.exists(sink_bin):
                return None
            out = subprocess.run([sink_bin, str(port), str(a.events), str(a.size)]
                                 + (["stream"] if a.stream else []),
                                 capture_output=True, text=True, check=True).stdout
            return float(out.split()[0])

        base = rate = ceiling = 0.0
        alone = None
        for i in range(a.repeat):
            base = max(base, yardstick())
            before = commands(port)
            rate = max(rate, replay("redis", sink))
            arrived = commands(port) - before - 1   # INFO itself counts once
            if arrived < a.events * per:
                sys.exit("bench_redis: only %d of %d commands reached Redis"
                         % (arrived, a.events * per))
            ceiling = max(ceiling, replay("file", {"path": "/dev/null"}))
            r = sink_alone()
            if r is not None:
                alone = max(alone or 0.0, r)
        print("yardstick: redis-benchmark -P 16 -n %d -q PUBLISH chan <%d bytes>: %.0f PUBLISH/s"
              % (a.events, a.size, base))
        print("changecast: jsonl -> redis%s, %d events of ~%d bytes: %.0f events/s "
              "(every command reached Redis)"
              % (" (PUBLISH + XADD)" if a.stream else "", a.events, a.size, rate))
        print("context: jsonl -> file (/dev/null), same events: %.0f events/s (the core's "
              "ceiling here)" % ceiling)
        if alone is not None:
            print("context: the sink alone (pre-built envelopes, mock host): %.0f events/s = "
                  "%.0f%% of the yardstick" % (alone, 100 * alone / base))
        ratio = rate / base
        print("ratio: %.0f%% of the yardstick (goal >= %.0f%%)%s; %.0f%% of the core's ceiling"
              % (100 * ratio, 100 * GOAL, "" if ratio >= GOAL else "  BELOW GOAL",
                 100 * rate / ceiling))
    finally:
        srv.kill()
        srv.wait()
