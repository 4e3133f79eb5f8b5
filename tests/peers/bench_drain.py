#!/usr/bin/python3
"""How fast a pymongo watch() loop drains the MongoDB peer.

    /usr/bin/python3 tests/peers/bench_drain.py [--events 200000] [--size 100]
        [--uri mongodb://127.0.0.1:PORT/?replicaSet=rs0]

Without --uri it starts a peer of its own. Opens a change stream (with the
mongo source's default operation filter), preloads the events with peerLoad,
then times `ChangeStream.next()` per event. Prints the load and drain rates.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import pymongo

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = [{"$match": {"operationType": {"$in": ["insert", "update", "replace", "delete"]}}}]


def start_peer():
    port_file = os.path.join(tempfile.mkdtemp(prefix="bench_drain"), "port")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "mongo_peer.py"), "--port", "0",
                             "--port-file", port_file], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("bench_drain: the peer did not start")
        time.sleep(0.02)
    with open(port_file) as f:
        return proc, "mongodb://127.0.0.1:%d/?replicaSet=rs0" % int(f.read())


def watch_loop(client, n, size):
    coll = client.bench.watch_loop
    with coll.watch(OPS) as cs:
        t0 = time.monotonic()
        client.admin.command({"peerLoad": "bench.watch_loop", "count": n, "size": size})
        t1 = time.monotonic()
        for _ in range(n):
            cs.next()
        t2 = time.monotonic()
    return t1 - t0, t2 - t1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--size", type=int, default=100, help="bytes of padding per document")
    ap.add_argument("--uri")
    a = ap.parse_args()
    proc = None
    uri = a.uri
    if uri is None:
        proc, uri = start_peer()
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        load, drain = watch_loop(client, a.events, a.size)
        print("peerLoad: %d events in %.2f s (%.0f events/s)" % (a.events, load, a.events / load))
        print("pymongo watch() loop: %d events in %.2f s = %.0f events/s"
              % (a.events, drain, a.events / drain))
    finally:
        client.close()
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
