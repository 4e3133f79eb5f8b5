#!/usr/bin/python3
"""jsonl -> file end to end: events/s and the daemon's peak RSS.

    tests/bench/bench_replay.py [--events N] [--size BYTES] [--capacity SLOTS] [--build DIR]

Generates N change events of about BYTES each (tests/integration/gen_changes.py),
replays them through the jsonl source into the file sink (a file on the same
disk), and reports wall time from start to exit, events/s, and peak RSS from
getrusage of the child. Goal (issue 2): >= 300,000 events/s on 2 cores and
<= 64 MB peak RSS with a 65,536-slot bus.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))

ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=2_000_000)
ap.add_argument("--size", type=int, default=300)
ap.add_argument("--capacity", type=int, default=65536)
ap.add_argument("--build", default=os.path.join(root, "build"))
a = ap.parse_args()
a.build = os.path.abspath(a.build)

with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
    src = os.path.join(tmp, "changes.jsonl")
    subprocess.run([sys.executable, os.path.join(root, "tests/integration/gen_changes.py"),
                    str(a.events), src, "--size", str(a.size)], check=True)
    size = os.path.getsize(src)
    manifest = {
        "plugin_dir": os.path.join(a.build, "plugins"),
        "bus": {"capacity": a.capacity},
        "state": {"path": "bench.state"},
        "admin": {"listen": ""},
        "sources": [{"name": "replay", "plugin": "jsonl",
                     "config": {"path": "changes.jsonl", "recipient": "fullDocument.owner"}}],
        "sinks": [{"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}}],
    }
    mpath = os.path.join(tmp, "bench.json")
    with open(mpath, "w") as f:
        json.dump(manifest, f)
    t0 = time.monotonic()
    subprocess.run([os.path.join(a.build, "core/changecast"), "run", "-q", "-c", mpath], check=True)
    dt = time.monotonic() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with open(os.path.join(tmp, "out.jsonl"), "rb") as f:
        lines = sum(1 for _ in f)
    if lines != a.events:
        sys.exit(f"bench_replay: expected {a.events} envelopes, got {lines}")
    print(f"jsonl -> file: {a.events} events of ~{size // a.events} bytes, bus {a.capacity} slots")
    print(f"  {dt:.2f} s   {a.events / dt:,.0f} events/s   {size / dt / 1e6:.1f} MB/s in"
          f"   peak RSS {rss_mb:.1f} MB")
