#!/usr/bin/python3
"""jsonl (FIFO) -> websocket broadcast to N clients: deliveries/s, latency
from emission to receipt, and the daemon's RSS per idle connection.

    tests/bench/bench_ws.py [--conns 10000] [--events 100] [--rate 30]
                            [--pad 100] [--build DIR] [--runs 1]

Starts changecast with the jsonl source reading a FIFO and the websocket
sink on a free loopback port, reads VmRSS of the daemon (/proc/PID/status),
connects N idle clients with build/tests/bench/bench_ws (C, epoll), reads
VmRSS again (-> bytes per idle connection), then writes EVENTS broadcast
change events into the FIFO, RATE a second (0 = as fast as it can write),
each stamped with its emission time (fullDocument.t_ns, CLOCK_REALTIME ns).
bench_ws reports deliveries/s (first to last receipt, and from the first
emission to the last receipt: the goal is checked on the latter), p50 and
p99 latency.
Goals (issue 4): >= 250,000 deliveries/s, p99 <= 50 ms, <= 4 KB per idle
connection.

Then (unless --no-floor) bench_tcp_floor runs the same broadcast with no
server at all: a bare send() loop over as many loopback sockets, messages
of the same size, the same rate. Its p99 is what this machine's kernel
alone costs; changecast's figures are to be read against it.
"""
import argparse
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def cpu_s(pid):
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(cond, seconds, what):
    deadline = time.monotonic() + seconds
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            sys.exit("bench_ws: timed out waiting for " + what)
        time.sleep(0.02)


def event_line(k, pad):
    doc = {"_id": "d%d" % k, "seq": k, "t_ns": time.time_ns(), "pad": "x" * pad}
    ev = {"_id": {"_data": "82%016X0004" % k}, "operationType": "insert",
          "clusterTime": {"$timestamp": {"t": 1745257727 + k // 1000, "i": k % 1000 + 1}},
          "ns": {"db": "bench", "coll": "ticks"}, "documentKey": {"_id": doc["_id"]},
          "fullDocument": doc}
    return (json.dumps(ev, separators=(",", ":")) + "\n").encode()


def run_once(a, tmp, run):
    port = free_port()
    fifo = os.path.join(tmp, "feed%d.fifo" % run)
    os.mkfifo(fifo)
    manifest = {
        "plugin_dir": os.path.join(a.build, "plugins"),
        "state": {"path": "bench%d.state" % run},
        "admin": {"listen": ""},
        "sources": [{"name": "feed", "plugin": "jsonl",
                     "config": {"path": fifo, "on_eof": "stay"}}],
        "sinks": [{"name": "live", "plugin": "websocket",
                   "config": {"listen": "127.0.0.1:%d" % port,
                              "max_connections": a.conns + 100}}],
    }
    mpath = os.path.join(tmp, "bench%d.json" % run)
    with open(mpath, "w") as f:
        json.dump(manifest, f)
    log = open(os.path.join(tmp, "daemon%d.log" % run), "wb")
    d = subprocess.Popen([os.path.join(a.build, "core/changecast"), "run", "-q", "-c", mpath],
                         cwd=tmp, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    client = None
    try:
        def opened():
            if d.poll() is not None:
                sys.exit("bench_ws: changecast exited with %s; see %s" % (d.returncode, log.name))
            try:
                return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) + 1
            except OSError:
                return None
        fd = wait_for(opened, 30, "changecast to open the FIFO") - 1
        os.set_blocking(fd, True)

        def listening():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False
        wait_for(listening, 30, "the websocket listener")
        time.sleep(0.5)                 # let the probe connection go away
        rss0 = vmrss_kb(d.pid)

        client = subprocess.Popen([os.path.join(a.build, "tests/bench/bench_ws"), "-p", str(port),
                                   "-n", str(a.conns), "-e", str(a.events), "-i", "10"],
                                  stdout=subprocess.PIPE, text=True)
        lines = []
        for line in client.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("READY"):
                break
        else:
            sys.exit("bench_ws: the client exited before connecting:\n" + "\n".join(lines))
        ready = int(lines[-1].split()[1])
        time.sleep(1.0)                 # let the server settle its buffers
        rss1 = vmrss_kb(d.pid)
        per_conn = (rss1 - rss0) * 1024 / max(ready, 1)

        cpu0 = cpu_s(d.pid)
        t0 = time.monotonic()
        for k in range(a.events):
            if a.rate > 0:
                due = t0 + k / a.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            os.write(fd, event_line(k, a.pad))
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = client.stdout.read()
        client.wait()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        cpu = cpu_s(d.pid) - cpu0
        rss2 = vmrss_kb(d.pid)
        os.close(fd)
        for line in lines[:-1]:
            print("  " + line)
        print("\n".join("  " + x for x in out.splitlines() if not x.startswith("RESULT")))
        m = re.search(r"^RESULT (.*)$", out, re.M)
        res = dict(kv.split("=") for kv in m.group(1).split()) if m else {}
        n = float(res.get("deliveries", 0)) or 1
        print("  CPU for the events: changecast %.2f s (%.2f us per delivery), bench_ws %.2f s "
              "(whole run, %.2f us per delivery)"
              % (cpu, cpu / n * 1e6, client_cpu, client_cpu / n * 1e6))
        print("  changecast VmRSS: %.1f MB before, %.1f MB with %d idle clients "
              "(%.0f bytes each), %.1f MB after the events"
              % (rss0 / 1024, rss1 / 1024, ready, per_conn, rss2 / 1024))
        return res, per_conn, client.returncode
    finally:
        if client and client.poll() is None:
            client.kill()
            client.wait()
        if d.poll() is None:
            d.send_signal(signal.SIGTERM)
            try:
                d.wait(timeout=30)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--rate", type=float, default=30, help="events per second; 0 = unpaced")
    ap.add_argument("--pad", type=int, default=100, help="pad bytes in each document")
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-floor", action="store_true", help="skip the bench_tcp_floor run")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    status = 0
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for run in range(a.runs):
            print("websocket broadcast: %d clients, %d events %s, pad %d"
                  % (a.conns, a.events, "at %g/s" % a.rate if a.rate > 0 else "unpaced", a.pad))
            res, per_conn, rc = run_once(a, tmp, run)
            ok = (float(res.get("e2e_per_s", 0)) >= 250000, float(res.get("p99_ms", 1e9)) <= 50,
                  per_conn <= 4096)
            print("  goals: deliveries/s >= 250,000 %s; p99 <= 50 ms %s; <= 4 KB per idle "
                  "connection %s" % tuple("met" if x else "MISSED" for x in ok))
            status |= rc
    if not a.no_floor:
        # The same broadcast with no server: the kernel's floor.
        size = len(event_line(0, a.pad))
        out = subprocess.run([os.path.join(a.build, "tests/bench/bench_tcp_floor"),
                              "-n", str(a.conns), "-e", str(a.events),
                              "-r", str(a.rate if a.rate > 0 else 1000), "-s", str(size)],
                             capture_output=True, text=True)
        print("kernel floor (bench_tcp_floor: no server, %d-byte messages):" % size)
        print("\n".join("  " + x for x in (out.stdout + out.stderr).splitlines()))
        status |= out.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
