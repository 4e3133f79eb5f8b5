#!/usr/bin/python3
"""jsonl -> database sink against the MongoDB wire-protocol peer, beside a bare
libmongoc bulk-insert loop against the same peer in the same run.

    tests/bench/bench_database.py [--events N] [--batch B] [--size BYTES] [--build DIR]

1. Generates N change events (~BYTES each, tests/integration/gen_changes.py)
   and turns them into envelopes with a jsonl -> file run (not timed).
2. Starts the peer (tests/peers/mongo_peer.py) on a loopback port.
3. bare: build/tests/bench/bench_database_bare builds every document the sink
   would store before its clock starts, then times unordered bulk inserts of
   B documents (bench.bare1).
4. changecast: jsonl (on_eof finish) -> database sink (batch_size B) into
   bench.sink, timed from start until the daemon exits by itself (every event
   acknowledged after the server's reply).
5. bare again (bench.bare2); the yardstick is the mean of the two bare runs.
Each run gets a fresh peer (restarted, empty), since a Python peer slows
down as it fills and would favour whichever ran first.
Checks that each collection holds N documents, prints documents/s, the ratio
and changecast's peak RSS. Goal (issue): at least 80% of the bare loop.
"""
import argparse, json, os, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.join(root, "tests", "integration"))
import gen_changes  # noqa: E402
from mongopeer import MongoPeer  # noqa: E402

GOAL = 0.80

ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=100_000)
ap.add_argument("--batch", type=int, default=1000)
ap.add_argument("--size", type=int, default=300)
ap.add_argument("--build", default=os.path.join(root, "build"))
a = ap.parse_args()
a.build = os.path.abspath(a.build)
binary = os.path.join(a.build, "core", "changecast")
bare = os.path.join(a.build, "tests", "bench", "bench_database_bare")
plugins = os.path.join(a.build, "plugins")
for p in (binary, bare, os.path.join(plugins, "database.so")):
    if not os.path.exists(p):
        sys.exit("bench_database: %s missing (build first)" % p)

tmp = tempfile.mkdtemp(prefix="bench-db-", dir=os.environ.get("BENCH_TMP"))
changes = os.path.join(tmp, "changes.jsonl")
gen_changes.write_changes(changes, a.events, a.size)


def run_daemon(sinks, name):
    m = {"plugin_dir": plugins, "state": {"path": os.path.join(tmp, name + ".state")},
         "log": {"level": "warn"}, "bus": {"capacity": 65536},
         "sources": [{"name": "replay", "plugin": "jsonl",
                      "config": {"path": changes, "recipient": "fullDocument.owner"}}],
         "sinks": sinks}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(m, f)
    t0 = time.monotonic()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%U %S %M", binary, "run", "-c", path],
                         stderr=subprocess.PIPE, text=True)
    _, err = p.communicate()
    secs = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("bench_database: %s run failed (%d):\n%s" % (name, p.returncode, err[-3000:]))
    user, system, rss_kb = err.strip().splitlines()[-1].split()
    return secs, int(rss_kb), float(user) + float(system)


envelopes = os.path.join(tmp, "envelopes.jsonl")
run_daemon([{"name": "out", "plugin": "file", "config": {"path": envelopes}}], "envelopes")

peer = MongoPeer(tmp)
peer.start()
try:
    def bare_run(coll):
        peer.restart()
        out = subprocess.run([bare, peer.uri, "bench", coll, envelopes, str(a.batch)],
                             capture_output=True, text=True, check=True).stdout
        print(out.strip())
        n = peer.client().bench[coll].count_documents({})
        assert n == a.events, "%s holds %d documents, not %d" % (coll, n, a.events)
        return float(out.split(": ")[-1].split()[0])

    r1 = bare_run("bare1")
    peer.restart()
    secs, rss_kb, cpu = run_daemon([{"name": "store", "plugin": "database",
                                "config": {"uri": peer.uri, "database": "bench",
                                           "collection": "sink", "batch_size": a.batch}}],
                              "sink")
    n = peer.client().bench.sink.count_documents({})
    assert n == a.events, "bench.sink holds %d documents, not %d" % (n, a.events)
    rate = a.events / secs
    print("changecast: %d documents in %.3f s: %.0f documents/s (CPU %.2f s, peak RSS %.1f MB)"
          % (a.events, secs, rate, cpu, rss_kb / 1024))
    r2 = bare_run("bare2")
finally:
    peer.stop()

yard = (r1 + r2) / 2
ratio = rate / yard
print("database sink: %.0f documents/s = %.0f%% of the bare loop's %.0f (goal >= %.0f%%): %s"
      % (rate, ratio * 100, yard, GOAL * 100, "met" if ratio >= GOAL else "NOT met"))
