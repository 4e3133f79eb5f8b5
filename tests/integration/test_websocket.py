"""The websocket sink with real clients: python3-websockets, the Node `ws`
package (tests/node/ws_client.js), curl for SSE, and wshelpers.WSClient
(raw RFC 6455) where a test needs to see exact frames. Events come from the
jsonl source reading a FIFO the test writes (wshelpers.Feed)."""

import asyncio
import json
import socket
import ssl
import subprocess
import threading
import time

import websockets

from cchelpers import poll, timeout
from wshelpers import (HandshakeRefused, NodeClient, SSEReader, Watcher, change, metric, seq,
                       start_ws, token)


def owner_of(k):
    """The mixed stream of the resume tests: user_1, user_2, broadcast."""
    return ("user_1", "user_2", None)[k % 3]


def emit_paced(setup, ks, gap=0.002):
    """Emits events ks on a thread, a little apart, so they race a client's
    connect and replay; returns the thread (join it)."""
    def run():
        try:
            for k in ks:
                setup.emit(change(k, owner=owner_of(k)))
                time.sleep(gap)
        except BrokenPipeError:
            pass    # the daemon was stopped: the test already failed
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_per_recipient_delivery_broadcasts_and_envelopes(tmp_path, plugin_dir, daemon):
    """Two raw sockets and a python-websockets client on /ws/user_1 each get
    every user_1 event; /ws/user_2 only user_2's; /ws only broadcasts;
    everyone gets the broadcasts; each message is exactly the file sink's
    envelope for the same event."""
    s = start_ws(tmp_path, plugin_dir, daemon, file_sink=True)
    url = "ws://127.0.0.1:%d" % s.port
    u1a, u1b = s.connect("/ws/user_1"), s.connect("/ws/user_1")
    u2, bc = s.connect("/ws/user_2"), s.connect("/ws")
    events = [change(0, owner="user_1"), change(1, owner="user_2"), change(2),
              change(3, owner="user_1", op="update"), change(4)]

    async def python_client():
        async with websockets.connect(url + "/ws/user_1") as ws:
            s.wait_connections(5)
            s.emit(*events)
            return [json.loads(await asyncio.wait_for(ws.recv(), timeout(10)))
                    for _ in range(4)]
    got_py = asyncio.run(python_client())

    want = {"user_1": [0, 2, 3, 4], "user_2": [1, 2, 4], None: [2, 4]}
    for client, who in ((u1a, "user_1"), (u1b, "user_1"), (u2, "user_2"), (bc, None)):
        got = client.recv_until(lambda e: seq(e) == 4)
        assert [seq(e) for e in got] == want[who], who
        for e in got:
            assert e["recipient"] == (who if seq(e) in (0, 1, 3) else None)
    assert [seq(e) for e in got_py] == want["user_1"]
    poll(lambda: len(s.envelopes_by_id()) == 5, 20, "5 lines from the file sink")
    by_id = s.envelopes_by_id()
    for e in got_py:
        assert e == by_id[e["id"]]
    assert by_id[token(3)]["operation"] == "update"
    s.stop()                  # with four sockets still open


def test_node_ws_client(tmp_path, plugin_dir, daemon):
    """The Node `ws` package on /ws/user_2 gets user_2's events and the
    broadcasts, envelopes as the file sink writes them, then closes 1000."""
    s = start_ws(tmp_path, plugin_dir, daemon, file_sink=True)
    node = NodeClient("ws://127.0.0.1:%d/ws/user_2" % s.port, 2)
    assert node.next().get("open"), "node client did not connect"
    s.wait_connections(1)
    s.emit(change(0, owner="user_1"), change(1, owner="user_2", op="update"), change(2))
    got = [node.next()["message"] for _ in range(2)]
    assert [seq(e) for e in got] == [1, 2]
    assert node.wait() == 0
    s.wait_connections(0)
    poll(lambda: len(s.envelopes_by_id()) == 3, 20, "3 lines from the file sink")
    by_id = s.envelopes_by_id()
    assert got == [by_id[e["id"]] for e in got]
    s.stop()


def test_event_with_several_recipients_reaches_each_once(tmp_path, plugin_dir, daemon):
    """owner ["user_1", "user_2"]: each recipient's sockets get their own
    copy (recipient and id "<token>:<recipient>"), /ws gets none."""
    s = start_ws(tmp_path, plugin_dir, daemon)
    u1, u2, bc = s.connect("/ws/user_1"), s.connect("/ws/user_2"), s.connect("/ws")
    s.wait_connections(3)
    s.emit(change(0, owner=["user_1", "user_2"]), change(1))
    for c, who in ((u1, "user_1"), (u2, "user_2")):
        got = c.recv_until(lambda e: seq(e) == 1)
        assert [(seq(e), e["recipient"], e["id"]) for e in got] == \
            [(0, who, token(0) + ":" + who), (1, None, token(1))]
    assert [seq(e) for e in bc.recv_until(lambda e: seq(e) == 1)] == [1]
    s.stop()


def test_clients_get_1001_when_the_daemon_stops(tmp_path, plugin_dir, daemon):
    s = start_ws(tmp_path, plugin_dir, daemon)
    a, b = s.connect("/ws"), s.connect("/ws/user_1")
    s.wait_connections(2)
    s.stop()
    assert a.expect_close() == 1001
    assert b.expect_close() == 1001


def test_connections_metric_counts_open_sockets(tmp_path, plugin_dir, daemon):
    s = start_ws(tmp_path, plugin_dir, daemon)
    s.wait_connections(0)
    cs = [s.connect("/ws/user_%d" % i) for i in range(3)]
    s.wait_connections(3)
    for c in cs[:2]:
        c.close()
        assert c.expect_close() == 1000
        c.shutdown()
    s.wait_connections(1)
    cs[2].shutdown()          # no close frame: TCP just goes away
    s.wait_connections(0)


def test_websocket_resume_with_last_event_id_has_no_gap_and_no_duplicate(
        tmp_path, plugin_dir, daemon):
    """A client on /ws/user_1 with ?last_event_id= (a user_1 event) gets every
    later user_1 and broadcast event exactly once, in order, while events keep
    coming during its connect."""
    s = start_ws(tmp_path, plugin_dir, daemon)
    w = Watcher(s)
    s.emit(*[change(k, owner=owner_of(k)) for k in range(10)])
    w.wait_seq(8)                      # the last broadcast: all 10 are in the window
    t = emit_paced(s, range(10, 60))
    c = s.connect("/ws/user_1?last_event_id=" + token(3))
    got = c.recv_until(lambda e: seq(e) == 59)       # the last broadcast
    t.join()
    s.emit(change(60, owner="user_1"))
    got += c.recv_until(lambda e: seq(e) == 60)
    assert [seq(e) for e in got] == [k for k in range(4, 61) if owner_of(k) != "user_2"]
    s.stop()
    w.stop()


def test_sse_resume_with_last_event_id_and_ids(tmp_path, plugin_dir, daemon):
    """SSE on /sse/user_1 with Last-Event-ID: the same no-gap no-duplicate
    stream; each message's id: is the envelope id; text/event-stream."""
    s = start_ws(tmp_path, plugin_dir, daemon)
    w = Watcher(s)
    s.emit(*[change(k, owner=owner_of(k)) for k in range(10)])
    w.wait_seq(8)
    t = emit_paced(s, range(10, 40))
    sse = SSEReader("http://127.0.0.1:%d/sse/user_1" % s.port,
                    headers={"Last-Event-ID": token(3)})
    try:
        assert sse.wait_head() == 200
        assert sse.headers.get("content-type", "").startswith("text/event-stream"), sse.headers
        want = [k for k in range(4, 40) if owner_of(k) != "user_2"]
        got = []
        while len(got) < len(want):
            ev = sse.next()
            env = json.loads(ev["data"])
            assert ev.get("id") == env["id"]
            got.append(seq(env))
        assert got == want
        t.join()
        s.stop()              # with the SSE stream open
    finally:
        sse.stop()
        w.stop()


def test_sse_live_feed_without_resume(tmp_path, plugin_dir, daemon):
    s = start_ws(tmp_path, plugin_dir, daemon)
    s.emit(change(0))                   # before the client: not replayed
    sse = SSEReader("http://127.0.0.1:%d/sse/user_2" % s.port)
    try:
        assert sse.wait_head() == 200
        s.wait_connections(1)
        s.emit(change(1, owner="user_1"), change(2, owner="user_2"), change(3))
        assert [seq(json.loads(sse.next()["data"])) for _ in range(2)] == [2, 3]
    finally:
        sse.stop()


def test_id_older_than_the_window_gets_one_gap_message(tmp_path, plugin_dir, daemon):
    """replay_events 5: an id that left the window gets {"operation":"gap"}
    first (WebSocket and SSE), then the live feed without duplicates."""
    s = start_ws(tmp_path, plugin_dir, daemon, config={"replay_events": 5})
    w = Watcher(s)
    s.emit(*[change(k) for k in range(20)])
    w.wait_seq(19)
    c = s.connect("/ws?last_event_id=" + token(2))
    first = c.recv_json()
    assert first["operation"] == "gap", first
    sse = SSEReader("http://127.0.0.1:%d/sse" % s.port, headers={"Last-Event-ID": token(2)})
    try:
        assert sse.wait_head() == 200
        gap = sse.next()
        assert json.loads(gap["data"])["operation"] == "gap"
        assert "id" not in gap, "the gap notice carries no id (it is not an event)"
        s.emit(*[change(k) for k in range(20, 23)])
        rest = [seq(e) for e in c.recv_until(lambda e: seq(e) == 22)]
        assert -1 not in rest, "a second gap message"
        assert rest[-3:] == [20, 21, 22] and len(rest) == len(set(rest)), rest
        sse_rest = []
        while 22 not in sse_rest:
            env = json.loads(sse.next()["data"])
            assert env["operation"] != "gap"
            sse_rest.append(seq(env))
        assert sse_rest[-3:] == [20, 21, 22] and len(sse_rest) == len(set(sse_rest)), sse_rest
    finally:
        sse.stop()
        w.stop()


PAD = "x" * 8000
SLOW_LIMIT = 262144


def emit_in_bursts(setup, lines, per_burst=8, gap=0.01):
    """Emits lines a few at a time (64 KB every 10 ms): a reading client's
    queue stays far below max_queue_bytes, while a client that stopped
    reading falls behind by more than the kernel's socket buffers (about
    3 MB on loopback) plus the limit."""
    for i in range(0, len(lines), per_burst):
        setup.emit(*lines[i:i + per_burst])
        time.sleep(gap)


def test_slow_consumer_is_closed_with_1013_while_others_keep_up(tmp_path, plugin_dir, daemon):
    """on_slow close: a client that stops reading is closed with 1013 once
    its queue passes max_queue_bytes; a reading client gets every event."""
    s = start_ws(tmp_path, plugin_dir, daemon,
                 config={"on_slow": "close", "max_queue_bytes": SLOW_LIMIT})
    fast = Watcher(s)
    slow = s.connect("/ws", rcvbuf=4096)
    s.wait_connections(2)
    n = 1000
    emit_in_bursts(s, [change(k, pad=PAD) for k in range(n)])
    fast.wait_seq(n - 1, seconds=60)
    assert fast.seqs() == list(range(n))
    assert slow.expect_close(seconds=30) == 1013
    s.wait_connections(1)
    assert metric(s.d, "changecast_websocket_slow_closes_total", sink="live") == 1
    assert metric(s.d, "changecast_sink_events_total", sink="live", result="dropped") >= 1
    s.emit(change(n))
    fast.wait_seq(n)
    s.stop()
    fast.stop()


def test_slow_consumer_conflate_keeps_the_newest_per_document(tmp_path, plugin_dir, daemon):
    """on_slow conflate: a client that stopped reading later gets, per
    document, updates in order ending with the newest, fewer than were sent,
    and is not closed; a reading client gets all of them."""
    s = start_ws(tmp_path, plugin_dir, daemon,
                 config={"on_slow": "conflate", "max_queue_bytes": SLOW_LIMIT})
    fast = Watcher(s)
    slow = s.connect("/ws", rcvbuf=4096)
    s.wait_connections(2)
    n, docs = 1000, 4
    emit_in_bursts(s, [change(k, op="update", doc_id="doc%d" % (k % docs), pad=PAD)
                       for k in range(n)])
    fast.wait_seq(n - 1, seconds=60)
    assert fast.seqs() == list(range(n))
    newest = set(range(n - docs, n))
    got = []

    def all_newest():
        got.append(slow.recv_json(seconds=20))
        return newest <= {seq(e) for e in got}
    poll(all_newest, 60, "the newest update of every document", interval=0)
    seqs = [seq(e) for e in got]
    assert len(seqs) < n, "nothing was conflated: the test did not fill the queue"
    for d in range(docs):
        mine = [k for k in seqs if k % docs == d]
        assert mine == sorted(set(mine)), "doc%d out of order or duplicated: %r" % (d, mine)
        assert mine[-1] == n - docs + d
    s.emit(change(n))
    assert seq(slow.recv_until(lambda e: seq(e) == n)[-1]) == n
    assert metric(s.d, "changecast_websocket_conflated_total", sink="live") >= n - len(seqs)
    assert metric(s.d, "changecast_websocket_slow_closes_total", sink="live") == 0
    s.stop()
    fast.stop()


def test_max_connections_answers_503(tmp_path, plugin_dir, daemon):
    s = start_ws(tmp_path, plugin_dir, daemon, config={"max_connections": 2})
    a, b = s.connect("/ws"), s.connect("/ws/user_1")
    c = s.connect("/ws", expect_refusal=True)
    assert c.status == 503
    c.shutdown()
    a.close()
    a.shutdown()

    def admitted():
        try:
            return s.connect("/ws")
        except HandshakeRefused as e:
            assert e.status == 503
            return None
    d = poll(admitted, 20, "a free slot after a close")
    s.emit(change(0))
    assert seq(d.recv_json()) == 0
    assert seq(b.recv_json()) == 0
    s.stop()


def test_healthz_and_viewer_page(tmp_path, plugin_dir, daemon):
    s = start_ws(tmp_path, plugin_dir, daemon)
    c = s.connect("/ws")
    s.wait_connections(1)
    status, _, body = s.http("/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "connections": 1}
    c.shutdown()
    status, headers, body = s.http("/")
    assert status == 200
    assert headers.get("content-type", "").startswith("text/html"), headers
    assert b"<html" in body.lower()


def make_cert(tmp_path):
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=timeout(60))
    return cert, key


def test_tls_wss_and_https_sse(tmp_path, plugin_dir, daemon):
    """tls: wss:// verified against the test's self-signed certificate
    (python-websockets), SSE over https with curl, a raw TLS client."""
    cert, key = make_cert(tmp_path)
    s = start_ws(tmp_path, plugin_dir, daemon, tls=True,
                 config={"tls": {"cert": str(cert), "key": str(key)}})
    url = "wss://127.0.0.1:%d" % s.port
    ctx = ssl.create_default_context(cafile=str(cert))
    raw = s.connect("/ws/user_1")
    sse = SSEReader("https://127.0.0.1:%d/sse/user_1" % s.port, cacert=str(cert))
    try:
        assert sse.wait_head() == 200

        async def python_client():
            async with websockets.connect(url + "/ws/user_1", ssl=ctx) as ws:
                s.wait_connections(3)
                s.emit(change(0, owner="user_1"), change(1, owner="user_2"), change(2))
                return [json.loads(await asyncio.wait_for(ws.recv(), timeout(10)))
                        for _ in range(2)]
        assert [seq(e) for e in asyncio.run(python_client())] == [0, 2]
        assert [seq(e) for e in raw.recv_until(lambda e: seq(e) == 2)] == [0, 2]
        assert [seq(json.loads(sse.next()["data"])) for _ in range(2)] == [0, 2]
    finally:
        sse.stop()
    # Plain HTTP on the TLS port gets no HTTP answer and harms nothing.
    with socket.create_connection(("127.0.0.1", s.port), timeout=timeout(10)) as p:
        p.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = p.recv(100)
        except OSError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200"), answer
    s.emit(change(3, owner="user_1"))
    assert seq(raw.recv_json()) == 3
    s.stop()                  # with a TLS socket open


def test_node_ws_client_over_wss(tmp_path, plugin_dir, daemon):
    cert, key = make_cert(tmp_path)
    s = start_ws(tmp_path, plugin_dir, daemon, tls=True,
                 config={"tls": {"cert": str(cert), "key": str(key)}})
    node = NodeClient("wss://127.0.0.1:%d/ws" % s.port, 1, insecure=True)
    assert node.next().get("open")
    s.wait_connections(1)
    s.emit(change(0, owner="user_1"), change(1))
    assert seq(node.next()["message"]) == 1
    assert node.wait() == 0
    s.stop()


def test_allowed_origins(tmp_path, plugin_dir, daemon):
    """allowed_origins: a browser Origin not on the list is refused with 403
    (WebSocket and SSE); a listed one, or none (not a browser), is let in."""
    s = start_ws(tmp_path, plugin_dir, daemon,
                 config={"allowed_origins": ["https://app.example"]})
    bad = s.connect("/ws", headers={"Origin": "https://evil.example"}, expect_refusal=True)
    assert bad.status == 403
    ok = s.connect("/ws/user_1", headers={"Origin": "https://app.example"})
    plain = s.connect("/ws")
    sse = SSEReader("http://127.0.0.1:%d/sse" % s.port, headers={"Origin": "https://evil.example"})
    try:
        assert sse.wait_head() == 403
    finally:
        sse.stop()
    s.emit(change(0))
    assert seq(ok.recv_json()) == 0 and seq(plain.recv_json()) == 0
    s.stop()


def test_sse_resume_with_last_event_id_query(tmp_path, plugin_dir, daemon):
    """SSE also takes ?last_event_id= (an EventSource cannot set the header
    on its first connect)."""
    s = start_ws(tmp_path, plugin_dir, daemon)
    w = Watcher(s)
    s.emit(*[change(k) for k in range(5)])
    w.wait_seq(4)
    sse = SSEReader("http://127.0.0.1:%d/sse?last_event_id=%s" % (s.port, token(1)))
    try:
        assert sse.wait_head() == 200
        assert [seq(json.loads(sse.next()["data"])) for _ in range(3)] == [2, 3, 4]
        s.emit(change(5))
        assert seq(json.loads(sse.next()["data"])) == 5
        s.stop()
    finally:
        sse.stop()
        w.stop()
