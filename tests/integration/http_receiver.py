#!/usr/bin/python3
"""A scripted webhook receiver for the http sink's tests: a real HTTP/1.1
server (keep-alive, one thread per connection) in its own process.

    http_receiver.py --log LOG.jsonl --script SCRIPT.json --port-file F [--port 0]

Listens on 127.0.0.1:PORT (0: a kernel-chosen port, written to --port-file
once listening). Answers every POST as the script says and appends one JSON
line per request to --log once the reply is written (or failed):

    {"n": 7, "conn": 3, "conn_req": 2, "method": "POST", "path": "/hook",
     "headers": [["Content-Type", "application/json"], ...],
     "body": "<text>", "id": "<event id or null>", "recipient": "<r or null>",
     "recipient_req": 2, "id_req": 1, "t_recv": <unix s>, "t_reply": <unix s>,
     "status": 200, "delay_ms": 0, "inflight": 3, "max_inflight": 4,
     "sent": true}

`n` counts requests in arrival order (from 1); `conn` numbers connections,
`conn_req` the request on its connection (keep-alive shows as conn_req > 1);
`recipient_req` / `id_req` count the requests seen so far for that body
recipient / event id (`null` recipient: broadcasts). `inflight` is the number
of requests between "body fully read" and "reply about to be written" when
this one arrived (itself included): a request is counted only while the client
certainly has it outstanding, so the maximum never over-counts the client's
concurrency.

The script is a JSON file read again at every request (replace it atomically
to change behaviour mid-test):

    {"default": {"status": 200, "delay_ms": 0, "headers": {}},
     "rules": [{"recipient": "user_3", "recipient_req": 3, "status": 503,
                "headers": {"Retry-After": "1"}, "delay_ms": 0, "times": 1}]}

A rule matches when every key it has among `n`, `recipient`,
`recipient_req`, `id`, `id_req`, `path` equals the request's value
(`recipient_req`, `id_req` and `n` also accept a list of values). The first
matching rule whose `times` (default: unlimited) is not used up answers;
otherwise `default`. `"close": true` in a rule closes the connection without a
reply (a connection error for the client).

Importable: `Receiver` starts and stops the process and reads its log.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MATCH_KEYS = ("n", "recipient", "recipient_req", "id", "id_req", "path")


class State:
    def __init__(self, log_path, script_path):
        self.lock = threading.Lock()
        self.log = open(log_path, "a", buffering=1)
        self.script_path = script_path
        self.n = 0
        self.conns = 0
        self.inflight = 0
        self.max_inflight = 0
        self.per_recipient = {}
        self.per_id = {}
        self.rule_uses = {}

    def script(self):
        try:
            with open(self.script_path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def choose(self, req):
        """The reply for `req` (a dict of the MATCH_KEYS); call with lock held."""
        script = self.script()
        for i, rule in enumerate(script.get("rules", [])):
            ok = True
            for k in MATCH_KEYS:
                if k not in rule:
                    continue
                want = rule[k]
                if isinstance(want, list) and k in ("n", "recipient_req", "id_req"):
                    ok = req[k] in want
                else:
                    ok = req[k] == want
                if not ok:
                    break
            if not ok:
                continue
            key = json.dumps(rule, sort_keys=True) + "#%d" % i
            used = self.rule_uses.get(key, 0)
            if "times" in rule and used >= rule["times"]:
                continue
            self.rule_uses[key] = used + 1
            return rule
        return script.get("default", {})

    def write(self, rec):
        line = json.dumps(rec) + "\n"
        with self.lock:
            self.log.write(line)
            self.log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive unless the client says close
    server_version = "cc-test-receiver"
    sys_version = ""
    # Headers and body leave in two writes; with Nagle on, the body would
    # wait for the client's delayed ACK (40 ms a reply).
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        st = self.server.state
        with st.lock:
            st.conns += 1
            self.conn_no = st.conns
        self.conn_reqs = 0

    def log_message(self, fmt, *args):   # quiet: the JSON log says it all
        pass

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self):
        st = self.server.state
        raw = self._read_body()
        t_recv = time.time()
        self.conn_reqs += 1
        body = raw.decode("utf-8", "replace")
        recipient, event_id = None, None
        try:
            doc = json.loads(raw)
            recipient = doc.get("recipient")
            event_id = (doc.get("event") or {}).get("id")
        except (ValueError, AttributeError):
            pass
        with st.lock:
            st.n += 1
            n = st.n
            st.inflight += 1
            inflight = st.inflight
            st.max_inflight = max(st.max_inflight, inflight)
            rreq = st.per_recipient[recipient] = st.per_recipient.get(recipient, 0) + 1
            ireq = st.per_id[event_id] = st.per_id.get(event_id, 0) + 1
            rule = st.choose({"n": n, "recipient": recipient, "recipient_req": rreq,
                              "id": event_id, "id_req": ireq, "path": self.path})
            max_inflight = st.max_inflight
        status = int(rule.get("status", 200))
        delay = float(rule.get("delay_ms", 0)) / 1000.0
        rec = {"n": n, "conn": self.conn_no, "conn_req": self.conn_reqs,
               "method": self.command, "path": self.path,
               "headers": [[k, v] for k, v in self.headers.items()],
               "body": body, "id": event_id, "recipient": recipient,
               "recipient_req": rreq, "id_req": ireq, "t_recv": t_recv,
               "status": status, "delay_ms": delay * 1000, "inflight": inflight,
               "max_inflight": max_inflight, "close": bool(rule.get("close"))}
        if delay:
            time.sleep(delay)
        # Out of flight before the reply leaves: the client cannot send its
        # next request before it has this reply, so no over-count.
        with st.lock:
            st.inflight -= 1
        rec["t_reply"] = time.time()
        sent = False
        try:
            if rule.get("close"):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                payload = b"ok\n" if 200 <= status < 300 and status != 204 else b""
                if not (200 <= status < 300):
                    payload = ("status %d\n" % status).encode()
                self.send_response(status)
                for k, v in (rule.get("headers") or {}).items():
                    self.send_header(k, str(v))
                if status != 204:
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(payload)
                self.wfile.flush()
                sent = True
        except OSError:
            self.close_connection = True
        rec["sent"] = sent
        st.write(rec)

    def do_POST(self):
        self._handle()

    do_PUT = do_POST

    def do_GET(self):
        payload = b"receiver\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args(argv)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a.log, a.script)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, a.port_file)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever(poll_interval=0.05)
    srv.server_close()
    return 0


class Receiver:
    """The receiver process, driven from a test:

        r = Receiver(tmp_path / "rx", script={...}).start()      # port 0
        r.url("/hook"); r.set_script({...}); r.requests(); r.stop()

    start(port) may name a port (a restart on the same port); the log and the
    script live in `workdir` and outlast restarts."""

    def __init__(self, workdir, script=None, python=sys.executable):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "requests.jsonl"
        self.script_path = self.workdir / "script.json"
        self.python = python
        self.proc = None
        self.port = None
        self._starts = 0
        self.set_script(script or {})

    def set_script(self, script):
        tmp = self.script_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(script))
        os.replace(tmp, self.script_path)

    def start(self, port=0, seconds=30):
        self._starts += 1
        port_file = self.workdir / ("port%d" % self._starts)
        err = open(self.workdir / ("receiver%d.stderr" % self._starts), "wb")
        self.proc = subprocess.Popen(
            [self.python, os.path.abspath(__file__), "--port", str(port),
             "--log", str(self.log_path), "--script", str(self.script_path),
             "--port-file", str(port_file)],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        err.close()
        deadline = time.monotonic() + seconds
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError("receiver exited (%s): %s" % (
                    self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start in %d s" % seconds)
            time.sleep(0.01)
        self.port = int(port_file.read_text())
        return self

    def stderr(self):
        return "".join(p.read_text(errors="replace")
                       for p in sorted(self.workdir.glob("receiver*.stderr")))

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def requests(self):
        """Every request logged so far (whole lines only), in log order."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        return [json.loads(l) for l in data.split(b"\n")[:-1]]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


if __name__ == "__main__":
    sys.exit(main())
