"""Helpers for the websocket sink's integration tests (test_websocket.py,
test_ws_abuse.py, test_ws_jwt.py, test_ws_viewer.py).

- `Feed`: a FIFO the jsonl source reads with on_eof "stay"; the test writes
  change events into it whenever it wants them emitted.
- `change()`: one change event line (canonical Extended JSON, as mongosh
  prints it) with a chosen recipient, collection, document id and fields.
- `WsSetup` / `start_ws()`: a daemon with jsonl (FIFO) -> websocket sink on a
  free loopback port (optionally also -> file sink, to compare envelopes),
  waited on until the listener answers GET /healthz.
- `WSClient`: a small blocking RFC 6455 client on a raw socket. It sends
  exactly the bytes a test asks for (unmasked frames, reserved bits, lying
  lengths...), so the abuse tests use it as is; the other tests use it for
  its precise view of handshakes and close codes.
- `Watcher`: a WSClient read by a background thread (answering pings), to
  prove another client keeps receiving while one misbehaves.
- `SSEReader`: curl -N reading an SSE stream, parsed into (id, data) events.
- `metric()`: one sample from the admin /metrics.

Every wait polls against a deadline (cchelpers.timeout scales them).
"""

import base64
import hashlib
import hmac
import json
import os
import queue
import re
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cchelpers import poll, timeout, write_manifest

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PLUGIN = "websocket"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def require_plugin(plugin_dir):
    """Skips the calling test when the build has no websocket plugin (the
    tests land before or beside the plugin on separate branches)."""
    if not os.path.isfile(os.path.join(plugin_dir, PLUGIN + ".so")):
        pytest.skip("websocket plugin not built (%s/%s.so missing)" % (plugin_dir, PLUGIN))


# ---------------------------------------------------------------- tokens

JWT_SECRET = "s3cret-for-tests-only"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret=JWT_SECRET, alg="HS256", header=None):
    """A compact JWS; alg HS256/HS384/HS512 signs with hmac, "none" leaves
    the signature empty."""
    h = {"alg": alg, "typ": "JWT"}
    h.update(header or {})
    signing = b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())
    if alg == "none":
        return signing + "."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret.encode(), signing.encode(), digest).digest()
    return signing + "." + b64url(sig)


# ---------------------------------------------------------------- events

def token(k):
    """The resume token `_data` of event k (sorts as text in event order)."""
    return "82%016X0004" % k


def change(k, owner=None, coll="users", op="insert", doc_id=None, db="test", **fields):
    """Change event k as one line (no newline). `owner` is the recipient
    (fullDocument.owner); None makes a broadcast. fullDocument holds seq=k
    and `fields`."""
    doc_id = "d%d" % k if doc_id is None else doc_id
    doc = {"_id": doc_id, "seq": k}
    if owner is not None:
        doc["owner"] = owner
    doc.update(fields)
    ev = {"_id": {"_data": token(k)}, "operationType": op,
          "clusterTime": {"$timestamp": {"t": 1745257727 + k // 1000, "i": k % 1000 + 1}},
          "ns": {"db": db, "coll": coll}, "documentKey": {"_id": doc_id}}
    if op == "delete":
        ev["fullDocumentBeforeChange"] = doc
    else:
        ev["fullDocument"] = doc
    if op == "update":
        ev["updateDescription"] = {"updatedFields": {"seq": k}, "removedFields": []}
    return json.dumps(ev, separators=(",", ":"))


def seq(env):
    """The seq of an envelope (a gap message has none: -1)."""
    return (env.get("data") or {}).get("seq", -1)


class Feed:
    """The writing end of the FIFO the jsonl source reads."""

    def __init__(self, path):
        self.path = Path(path)
        os.mkfifo(self.path)
        self.fd = None

    def open(self, seconds=30):
        """Opens for writing once the daemon has the reading end open (a
        non-blocking open fails with ENXIO until then)."""
        def try_open():
            try:
                return os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC) + 1
            except OSError:
                return None
        self.fd = poll(try_open, seconds, "the daemon to open %s" % self.path) - 1
        os.set_blocking(self.fd, True)

    def emit(self, *lines):
        data = "".join(line + "\n" for line in lines).encode()
        while data:
            data = data[os.write(self.fd, data):]

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ---------------------------------------------------------------- daemon

class WsSetup:
    """A daemon running jsonl (FIFO "feed.fifo") -> websocket sink "live"
    (and file sink "out" -> out.jsonl when asked)."""

    def __init__(self, d, port, feed, workdir, tls=False):
        self.d = d
        self.port = port
        self.feed = feed
        self.workdir = Path(workdir)
        self.tls = tls

    def emit(self, *lines):
        self.feed.emit(*lines)

    def stop(self):
        """SIGTERM with clients still connected: exit 0, and under ASan the
        leak check at exit runs (a SIGKILLed daemon is never checked)."""
        self.feed.close()
        status = self.d.stop()
        assert status == 0, "exit status %s; stderr:\n%s" % (status, self.d.stderr()[-3000:])

    def http(self, path, headers=None, seconds=10):
        """A plain GET on the websocket listener: (status, headers, body bytes)."""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path),
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout(seconds)) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def connect(self, path="/ws", headers=None, protocols=None, **kw):
        return WSClient(self.port, path, headers=headers, protocols=protocols,
                        tls=self.tls, **kw)

    def connections(self):
        return metric(self.d, "changecast_websocket_connections", sink="live")

    def wait_connections(self, n, seconds=20):
        poll(lambda: self.connections() == n, seconds,
             "changecast_websocket_connections == %d (last %r)" % (n, self.connections()),
             interval=0.05)

    def envelopes_by_id(self):
        out = {}
        path = self.workdir / "out.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                env = json.loads(line)
                out[env["id"]] = env
        return out


def start_ws(tmp_path, plugin_dir, daemon, config=None, file_sink=False, sink=None,
             source=None, env=None, tls=False, extra_sinks=()):
    """Starts a daemon with the websocket sink on a kernel-chosen loopback
    port; returns a WsSetup once the sink listens and the feed is open."""
    require_plugin(plugin_dir)
    feed = Feed(tmp_path / "feed.fifo")
    src = {"path": "feed.fifo", "on_eof": "stay", "recipient": "fullDocument.owner"}
    src.update(source or {})
    cfg = {"listen": "127.0.0.1:0", "path": "/ws/{recipient}",
           "sse_path": "/sse/{recipient}"}
    cfg.update(config or {})
    snk = {"name": "live", "plugin": PLUGIN, "config": cfg}
    snk.update(sink or {})
    sinks = [snk]
    if file_sink:
        sinks.append({"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}})
    sinks.extend(extra_sinks)
    m = write_manifest(tmp_path / "m.json", plugin_dir,
                       [{"name": "feed", "plugin": "jsonl", "config": src}], sinks)
    d = daemon(m, tmp_path, env=env)
    d.admin_port()
    # Port 0: the kernel picks (no race with the other suites on this
    # machine); the sink logs the port once bound.
    port = int(d.wait_log(r'plugin=websocket name=live msg="listening on \S+ \(port (\d+)')
               .group(1))
    setup = WsSetup(d, port, feed, tmp_path, tls=tls)
    feed.open()
    return setup


def metric(d, name, **labels):
    """The value of one sample in the daemon's /metrics, or None."""
    status, _, body = d.http_get("/metrics")
    assert status == 200
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        have = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
        if have == want:
            return float(m.group(3))
    return None


# ---------------------------------------------------------------- WebSocket client

class HandshakeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__("upgrade refused: %d %r" % (status, body[:200]))
        self.status, self.headers, self.body = status, headers, body


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def read_http_head(sock, buf=b"", seconds=10):
    """Reads an HTTP response head; returns (status, headers lower-cased,
    rest of the bytes read). Raises ConnectionError on EOF first."""
    deadline = time.monotonic() + timeout(seconds)
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no HTTP response head within %.0f s (got %r)"
                               % (timeout(seconds), buf[:200]))
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head (got %r)"
                                  % buf[:200])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"^HTTP/1\.1 (\d{3})( .*)?$", lines[0])
    assert m, "bad status line %r" % lines[0]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, rest


def read_body(sock, headers, rest, seconds=10):
    """The body of a response whose head was read (Content-Length or until
    EOF)."""
    n = headers.get("content-length")
    deadline = time.monotonic() + timeout(seconds)
    while n is None or len(rest) < int(n):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        rest += chunk
    return rest if n is None else rest[:int(n)]


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame. `length` overrides the length field (lying)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WSClient:
    """A blocking WebSocket client on a raw socket. The handshake happens in
    the constructor: on a status other than 101 it raises HandshakeRefused
    (with status, headers and body) unless expect_refusal is set, in which
    case .status/.headers/.body are filled and no frames may be read."""

    def __init__(self, port, path="/ws", headers=None, protocols=None, tls=False,
                 rcvbuf=None, seconds=10, expect_refusal=False, auto_pong=True):
        self.auto_pong = auto_pong
        self.answer_close = True
        self.buf, self.pos = bytearray(), 0     # received, parsed up to pos
        self.close_code = None
        self.close_reason = None
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the window is small from the first byte.
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout(seconds))
        raw.connect(("127.0.0.1", port))
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
        self.sock = raw
        self.key = ws_key()
        req = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port,
               "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: " + self.key, "Sec-WebSocket-Version: 13"]
        if protocols:
            req.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        for k, v in (headers or {}).items():
            req.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        self.status, self.headers, rest = read_http_head(self.sock, seconds=seconds)
        self.buf = bytearray(rest)
        self.body = b""
        if self.status != 101:
            self.body = read_body(self.sock, self.headers, rest, seconds)
            self.buf = bytearray()
            if not expect_refusal:
                self.sock.close()
                raise HandshakeRefused(self.status, self.headers, self.body)
            return
        assert self.headers.get("upgrade", "").lower() == "websocket", self.headers
        assert "upgrade" in self.headers.get("connection", "").lower(), self.headers
        assert self.headers.get("sec-websocket-accept") == ws_accept(self.key), self.headers

    # -- sending
    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send(OP_TEXT, text)

    def close(self, code=1000, reason=""):
        self.answer_close = False
        try:
            self.send(OP_CLOSE, struct.pack("!H", code) + reason.encode())
        except OSError:
            pass

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving
    def _fill(self, need, deadline):
        """Reads until `need` unparsed bytes are buffered (buf[pos:])."""
        while len(self.buf) - self.pos < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame within the deadline")
            # An SSL socket may hold decrypted bytes select() cannot see.
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not pending:
                r, _, _ = select.select([self.sock], [], [], left)
                if not r:
                    continue
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            except socket.timeout:
                continue
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def recv_frame(self, seconds=10):
        """The next frame as (fin, rsv, opcode, payload). Server frames must
        be unmasked. Raises EOFError on a closed connection, TimeoutError."""
        return self._frame(time.monotonic() + timeout(seconds))

    def _frame(self, deadline):
        if self.pos > (1 << 20):
            del self.buf[:self.pos]          # compact now and then, not per frame
            self.pos = 0
        self._fill(2, deadline)
        p = self.pos
        b0, b1 = self.buf[p], self.buf[p + 1]
        assert not b1 & 0x80, "server frame is masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._fill(4, deadline)
            n, off = struct.unpack_from("!H", self.buf, p + 2)[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, off = struct.unpack_from("!Q", self.buf, p + 2)[0], 10
        self._fill(off + n, deadline)
        payload = bytes(self.buf[p + off:p + off + n])
        self.pos = p + off + n
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

    def recv_message(self, seconds=10):
        """The next data message (opcode, bytes), answering pings; a close
        frame returns (OP_CLOSE, payload) and records close_code."""
        return self._message(time.monotonic() + timeout(seconds))

    def _message(self, deadline):
        parts, first = [], None
        while True:
            fin, rsv, op, payload = self._frame(deadline)
            assert rsv == 0, "server frame with reserved bits"
            if op == OP_PING:
                if self.auto_pong:
                    self.send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.close_reason = payload[2:].decode(errors="replace")
                if self.answer_close:
                    # As a client does: echo the code, so the server need
                    # not wait for its closing handshake to time out.
                    self.answer_close = False
                    try:
                        self.send(OP_CLOSE, payload[:2])
                    except OSError:
                        pass
                return OP_CLOSE, payload
            if op != OP_CONT:
                first = op
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def recv_json(self, seconds=10):
        """The next text message parsed as JSON; fails on a close."""
        return self._json(time.monotonic() + timeout(seconds))

    def _json(self, deadline):
        op, data = self._message(deadline)
        if op == OP_CLOSE:
            pytest.fail("connection closed with %s %r while waiting for a message"
                        % (self.close_code, self.close_reason))
        assert op == OP_TEXT, "expected a text frame, got opcode %d" % op
        return json.loads(data)

    def recv_until(self, pred, seconds=20, limit=100000):
        """Messages (parsed) up to and including the first for which
        pred(env) is true."""
        out = []
        deadline = time.monotonic() + timeout(seconds)
        while len(out) < limit:
            try:
                env = self._json(deadline)
            except TimeoutError:
                pytest.fail("no matching message within %.0f s; got %d: %r"
                            % (timeout(seconds), len(out), [seq(e) for e in out][-20:]))
            out.append(env)
            if pred(env):
                return out
        pytest.fail("more than %d messages" % limit)

    def expect_close(self, seconds=10):
        """Reads until the server's close frame (returns its code) or EOF
        (returns None); data frames before it are skipped."""
        deadline = time.monotonic() + timeout(seconds)
        while True:
            try:
                op, _ = self._message(deadline)
            except EOFError:
                return self.close_code
            except TimeoutError:
                raise TimeoutError("connection still open after %.0f s" % timeout(seconds))
            if op == OP_CLOSE:
                return self.close_code

    def expect_eof(self, seconds=10):
        """After a close frame: the server closes TCP too."""
        deadline = time.monotonic() + timeout(seconds)
        while True:
            try:
                self._frame(deadline)
            except EOFError:
                return True
            except TimeoutError:
                raise TimeoutError("TCP still open after %.0f s" % timeout(seconds))


class Watcher:
    """A client read by a background thread: answers pings (through
    WSClient), collects envelopes. Proves the process keeps serving."""

    def __init__(self, setup, path="/ws"):
        self.client = setup.connect(path)
        self.events = []
        self.closed = None
        self._stop = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                op, data = self.client.recv_message(0.2)
            except TimeoutError:
                continue
            except (EOFError, OSError) as e:
                self.closed = repr(e)
                return
            if op == OP_CLOSE:
                self.closed = "close %s" % self.client.close_code
                return
            with self._lock:
                self.events.append(json.loads(data))

    def seqs(self):
        with self._lock:
            return [seq(e) for e in self.events]

    def wait_seq(self, k, seconds=20):
        def got():
            if self.closed:
                pytest.fail("the watcher was closed: %s" % self.closed)
            return k in self.seqs()
        poll(got, seconds, "the watcher to receive event seq %d" % k)

    def stop(self):
        self._stop = True
        self._thread.join(timeout=5)
        self.client.close()
        self.client.shutdown()


class SSEReader:
    """curl -N on an SSE URL; a thread parses the stream into events
    {"id":..., "data":..., "event":...} (comments ignored)."""

    def __init__(self, url, headers=None, cacert=None):
        cmd = ["curl", "-sS", "-N", "-i", "--no-buffer", "-H", "Accept: text/event-stream"]
        for k, v in (headers or {}).items():
            cmd += ["-H", "%s: %s" % (k, v)]
        cmd += ["--cacert", cacert] if cacert else []
        cmd.append(url)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.status = None
        self.headers = {}
        self.events = queue.Queue()
        self.head_done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        f = self.proc.stdout
        line = f.readline()
        m = re.match(rb"^HTTP/1\.1 (\d{3})", line)
        self.status = int(m.group(1)) if m else -1
        for line in iter(f.readline, b""):
            line = line.rstrip(b"\r\n")
            if not line:
                break
            k, _, v = line.decode("iso-8859-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.head_done.set()
        ev = {}
        for line in iter(f.readline, b""):
            line = line.rstrip(b"\r\n").decode()
            if not line:
                if "data" in ev:
                    self.events.put(ev)
                ev = {}
                continue
            if line.startswith(":"):
                continue
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "data":
                ev["data"] = ev["data"] + "\n" + v if "data" in ev else v
            elif k in ("id", "event", "retry"):
                ev[k] = v
            else:
                # Spec-wise ignorable, but no server of ours sends it: a bug.
                self.events.put({"bad_line": line})
        self.head_done.set()
        self.events.put(None)

    def wait_head(self, seconds=10):
        if not self.head_done.wait(timeout(seconds)):
            pytest.fail("no SSE response head within %.0f s" % timeout(seconds))
        return self.status

    def next(self, seconds=10):
        try:
            ev = self.events.get(timeout=timeout(seconds))
        except queue.Empty:
            pytest.fail("no SSE event within %.0f s" % timeout(seconds))
        if ev is None:
            pytest.fail("SSE stream ended; curl: %r" % self.proc.stderr.read()[:500])
        if "bad_line" in ev:
            pytest.fail("SSE stream has a line with an unknown field: %r" % ev["bad_line"])
        return ev

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


NODE_CLIENT = Path(__file__).resolve().parent.parent / "node" / "ws_client.js"


class NodeClient:
    """tests/node/ws_client.js (the `ws` package) as a child process; its
    JSON lines are read by a thread into a queue."""

    def __init__(self, url, count, headers=None, protocols=(), insecure=False):
        if not (NODE_CLIENT.parent / "node_modules" / "ws").exists():
            pytest.skip("tests/node/node_modules has no `ws` (run npm ci in tests/node)")
        cmd = ["node", str(NODE_CLIENT), url, str(count)]
        for k, v in (headers or {}).items():
            cmd += ["--header", "%s: %s" % (k, v)]
        for p in protocols:
            cmd += ["--protocol", p]
        if insecure:
            cmd.append("--insecure")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, seconds=20):
        try:
            item = self.lines.get(timeout=timeout(seconds))
        except queue.Empty:
            pytest.fail("node ws_client said nothing within %.0f s" % timeout(seconds))
        if item is None:
            pytest.fail("node ws_client exited (%s): %r"
                        % (self.proc.wait(), self.proc.stderr.read()[-1000:]))
        return item

    def wait(self, seconds=20):
        try:
            return self.proc.wait(timeout=timeout(seconds))
        finally:
            self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
