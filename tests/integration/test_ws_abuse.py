"""Misbehaving peers against the websocket sink, on raw sockets: each bad
frame closes its own socket with the RFC 6455 code (1002 protocol error,
1007 invalid UTF-8, 1009 too big), bad upgrade requests get their HTTP
status, silent peers are dropped after the handshake or dead-peer timeout;
and every time, a watcher client keeps receiving events and new clients
still connect (one daemon for the whole module, so it also proves that
nothing accumulates)."""

import itertools
import socket
import struct
import time

import pytest

from cchelpers import SANITIZER, Daemon, timeout
from wshelpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Watcher,
                       change, frame, read_body, read_http_head, seq, start_ws)

PING_MS = 400
HANDSHAKE_MS = 1000
MAX_MESSAGE = 65536

_k = itertools.count(1)


@pytest.fixture(scope="module")
def ws(tmp_path_factory, changecast_bin, plugin_dir):
    """One daemon for the module, with short keepalive and handshake timeouts
    and a 64 KB message limit, and a watcher on /ws."""
    tmp = tmp_path_factory.mktemp("abuse")
    started = []

    def start(manifest, workdir, env=None):
        d = Daemon(changecast_bin, manifest, workdir, env=env)
        started.append(d)
        return d
    try:
        s = start_ws(tmp, plugin_dir, start,
                     config={"ping_ms": PING_MS, "handshake_timeout_ms": HANDSHAKE_MS,
                             "max_message_bytes": MAX_MESSAGE})
        s.watcher = Watcher(s)
        yield s
        s.watcher.stop()
        s.stop()
    finally:
        for d in started:
            d.kill()
        for d in started:
            err = d.stderr()
            m = SANITIZER.search(err)
            if m:
                pytest.fail("sanitizer report in %s:\n%s" % (d.stderr_path, err[m.start():][:6000]))


def still_serving(s):
    """The watcher gets a fresh event, a new client connects and gets the
    next one, and the daemon runs."""
    k = next(_k)
    s.emit(change(k))
    s.watcher.wait_seq(k)
    c = s.connect("/ws/someone")
    k = next(_k)
    s.emit(change(k, owner="someone"))
    assert seq(c.recv_json()) == k
    c.close()
    c.shutdown()
    assert s.d.running()


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


BAD_FRAMES = [
    ("unmasked text frame", frame(OP_TEXT, "hello", mask=False), 1002),
    ("reserved opcode 0x3", frame(0x3, "x"), 1002),
    ("reserved control opcode 0xB", frame(0xB, "x"), 1002),
    ("RSV1 set without an extension", frame(OP_TEXT, "x", rsv=4), 1002),
    ("RSV3 set", frame(OP_BINARY, b"x", rsv=1), 1002),
    ("fragmented ping", frame(OP_PING, "x", fin=False), 1002),
    ("ping with 126 bytes", frame(OP_PING, b"p" * 126), 1002),
    ("continuation without a start", frame(OP_CONT, "x"), 1002),
    ("new data frame inside a fragmented message",
     frame(OP_TEXT, "a", fin=False) + frame(OP_TEXT, "b"), 1002),
    ("close with a 1-byte payload", frame(OP_CLOSE, b"\x03"), 1002),
    ("close with code 1005 (reserved)", frame(OP_CLOSE, close_payload(1005)), 1002),
    ("close with code 999", frame(OP_CLOSE, close_payload(999)), 1002),
    ("length 2^40 in the header", frame(OP_BINARY, b"", length=1 << 40), 1009),
    ("message over max_message_bytes", frame(OP_TEXT, "y" * (MAX_MESSAGE + 1)), 1009),
    ("fragments summing over max_message_bytes",
     frame(OP_BINARY, b"z" * 40000, fin=False) + frame(OP_CONT, b"z" * 40000), 1009),
    ("invalid UTF-8 in a text frame", frame(OP_TEXT, b"ok \xc3\x28"), 1007),
    ("UTF-8 surrogate in a text frame", frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
    ("invalid UTF-8 across fragments",
     frame(OP_TEXT, b"ok \xe2\x82", fin=False) + frame(OP_CONT, b"\x28"), 1007),
    ("text ending inside a UTF-8 sequence", frame(OP_TEXT, b"ok \xe2\x82"), 1007),
    ("invalid UTF-8 in a close reason", frame(OP_CLOSE, close_payload(1000, b"\xff")), 1007),
]


@pytest.mark.parametrize("data,code", [b[1:] for b in BAD_FRAMES],
                         ids=[b[0] for b in BAD_FRAMES])
def test_bad_frame_closes_only_its_socket(ws, data, code):
    c = ws.connect("/ws/abuser")
    c.send_raw(data)
    assert c.expect_close() == code, "close reason %r" % c.close_reason
    c.expect_eof()
    c.shutdown()
    still_serving(ws)


def test_ping_gets_pong_and_valid_fragments_are_fine(ws):
    c = ws.connect("/ws/polite", auto_pong=False)
    c.send(OP_PING, b"are you there")
    # Fragmented text with a ping in the middle is legal.
    c.send(OP_TEXT, "hello ", fin=False)
    c.send(OP_PING, b"2")
    c.send(OP_CONT, "\u00e9t\u00e9")
    pongs = []
    while len(pongs) < 2:
        fin, rsv, op, payload = c.recv_frame()
        if op == OP_PONG:
            pongs.append(payload)
    assert pongs == [b"are you there", b"2"]
    c.close(1000, "bye")
    assert c.expect_close() == 1000
    c.expect_eof()
    c.shutdown()
    still_serving(ws)


def test_client_data_messages_are_ignored(ws):
    """Text and binary messages from a client (valid ones) do not close it
    and do not disturb its feed."""
    c = ws.connect("/ws/chatty")
    c.send(OP_TEXT, "hello \u00e9")
    c.send(OP_BINARY, bytes(range(256)))
    c.send(OP_TEXT, "x" * 1000, fin=False)
    c.send(OP_CONT, "y" * 1000)
    k = next(_k)
    ws.emit(change(k, owner="chatty"))
    assert seq(c.recv_json()) == k
    c.close()
    assert c.expect_close() == 1000
    c.shutdown()
    still_serving(ws)


def test_peer_vanishing_mid_frame(ws):
    c = ws.connect("/ws/abuser")
    c.send_raw(frame(OP_TEXT, "x" * 1000)[:300])
    c.shutdown()
    still_serving(ws)


def test_half_open_peer_is_dropped_after_the_dead_peer_timeout(ws):
    """A peer that never answers pings (and sends no FIN) is closed after
    about two keepalive periods; the watcher, which answers, stays."""
    t0 = time.monotonic()
    c = ws.connect("/ws/ghost", auto_pong=False)
    pings = 0
    try:
        while True:
            fin, rsv, op, payload = c.recv_frame(seconds=10)
            if op == OP_PING:
                pings += 1
            elif op == OP_CLOSE:
                break
    except EOFError:
        pass
    waited = time.monotonic() - t0
    assert pings >= 1, "no keepalive ping before the close"
    assert waited >= PING_MS / 1000.0, "closed after %.2f s, before a keepalive period" % waited
    c.shutdown()
    assert ws.watcher.closed is None
    still_serving(ws)


@pytest.mark.parametrize("sent", [b"", b"GET /ws HTTP/1.1\r\nHost: x\r\n"],
                         ids=["nothing", "half a request head"])
def test_slow_handshake_is_closed_after_the_timeout(ws, sent):
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", ws.port)) as s:
        s.sendall(sent)
        s.settimeout(timeout(15))
        try:
            while s.recv(4096):
                pass        # a 408 answer is allowed before the close
        except ConnectionResetError:
            pass
    waited = time.monotonic() - t0
    assert waited >= HANDSHAKE_MS / 1000.0 * 0.8, "closed after %.2f s" % waited
    still_serving(ws)


def request(ws, head, seconds=10):
    """Sends bytes, returns (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", ws.port)) as s:
        s.sendall(head)
        status, headers, rest = read_http_head(s, seconds=seconds)
        return status, headers, read_body(s, headers, rest, seconds=2)


UPGRADE = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n")


@pytest.mark.parametrize("head,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /ws HTTP/1.1\r\nHost x\r\n\r\n", 400),
    ((UPGRADE % ("/ws", "Sec-WebSocket-Version: 8\r\n")).encode(), 426),
    ((UPGRADE % ("/ws", "")).encode(), 426),
    ((UPGRADE % ("/ws", "Sec-WebSocket-Version: 13\r\n")).replace(
        "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=").encode(), 400),
    ((UPGRADE % ("/ws", "Sec-WebSocket-Version: 13\r\n")).replace("HTTP/1.1", "HTTP/1.0")
     .encode(), 400),
    (b"GET /ws HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /ws?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /ws HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 70 + b"\r\n", 431),
    (b"GET /ws HTTP/1.1\r\n\r\n", 400),
    (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404),
], ids=["garbage", "header without colon", "version 8", "no version", "short key",
        "upgrade over HTTP/1.0", "HTTP/2.0", "target over 4 KB", "head over 8 KB",
        "70 headers", "no Host", "unknown path"])
def test_bad_request_gets_its_status(ws, head, status):
    got, headers, _ = request(ws, head)
    assert got == status
    if status == 426:
        assert headers.get("sec-websocket-version") == "13", headers
    still_serving(ws)


def test_many_bad_clients_at_once(ws):
    """Fifty abusers in a burst (a mix of the above) leave the watcher and
    the connection count as they were."""
    socks = []
    for i in range(50):
        c = ws.connect("/ws/burst%d" % i)
        c.send_raw(BAD_FRAMES[i % len(BAD_FRAMES)][1])
        socks.append(c)
    for i, c in enumerate(socks):
        assert c.expect_close() == BAD_FRAMES[i % len(BAD_FRAMES)][2]
        c.shutdown()
    still_serving(ws)
    ws.wait_connections(1)     # only the watcher
