"""The redis sink and the redis_source source against a real redis-server
started by the test on a loopback port (redis_helpers.py)."""

import json
import re
import signal
import time

import pytest

from cchelpers import poll, read_envelopes, run_cli, write_manifest
from redis_helpers import Subscriber, free_port, redis_server  # noqa: F401 - fixture

N = 300


def jsonl_source(extra=None):
    cfg = {"path": "changes.jsonl", "recipient": "fullDocument.owner", "on_eof": "finish"}
    cfg.update(extra or {})
    return {"name": "replay", "plugin": "jsonl", "config": cfg}


def redis_sink(uri, **cfg):
    c = {"uri": uri}
    c.update(cfg)
    return {"name": "r", "plugin": "redis", "config": c}


def health(d):
    status, _, body = d.http_get("/healthz")
    return status, json.loads(body)


def stream_events(client, key="changes"):
    """[(envelope bytes, recipient field)] of every entry, in stream order."""
    return [(f[b"event"], f[b"recipient"].decode()) for _, f in client.xrange(key)]


def test_sink_publishes_to_recipient_channels_and_the_stream(tmp_path, plugin_dir, daemon,
                                                             gen, redis_server):
    """Every event is PUBLISHed to mongo_change:<recipient> (or :broadcast)
    with the very envelope the file sink writes, and XADDed to the stream
    with its recipient field, in order."""
    srv = redis_server()
    sub = Subscriber(srv)
    gen.write_changes(str(tmp_path / "changes.jsonl"), N)
    # Every tenth event without an owner: a broadcast.
    lines = (tmp_path / "changes.jsonl").read_text().splitlines()
    for k in range(0, N, 10):
        doc = json.loads(lines[k])
        for part in ("fullDocument", "fullDocumentBeforeChange"):
            if isinstance(doc.get(part), dict):
                doc[part].pop("owner", None)
        lines[k] = json.dumps(doc)
    (tmp_path / "changes.jsonl").write_text("\n".join(lines) + "\n")
    m = write_manifest(tmp_path / "m.json", plugin_dir, [jsonl_source()],
                       [redis_sink(srv.uri, stream={"key": "changes", "maxlen": 0}),
                        {"name": "f", "plugin": "file", "config": {"path": "out.jsonl"}}])
    d = daemon(m)
    assert d.wait(60) == 0, d.stderr()[-3000:]
    want = (tmp_path / "out.jsonl").read_bytes().splitlines()
    envs = read_envelopes(tmp_path / "out.jsonl")
    assert len(want) == N
    poll(lambda: len(sub.messages) >= N, 30, "%d messages" % N)
    sub.close()
    assert len(sub.messages) == N
    broadcasts = 0
    for (chan, payload), line, env in zip(sub.messages, want, envs):
        assert payload == line
        r = env["recipient"]
        broadcasts += r is None
        assert chan == "mongo_change:" + (r if r is not None else "broadcast")
    assert broadcasts == N // 10
    entries = stream_events(srv.client())
    assert [e for e, _ in entries] == want
    assert [r for _, r in entries] == [e["recipient"] or "" for e in envs]


def test_sink_prefix_trimmed_stream_and_stream_only(tmp_path, plugin_dir, daemon, gen,
                                                    redis_server):
    """channel_prefix is used as given; MAXLEN ~ trims the stream near
    maxlen; publish: false writes the stream only."""
    srv = redis_server()
    sub = Subscriber(srv, pattern="app.*")
    gen.write_changes(str(tmp_path / "changes.jsonl"), 2000)
    m = write_manifest(tmp_path / "m.json", plugin_dir, [jsonl_source()],
                       [redis_sink(srv.uri, channel_prefix="app.",
                                   stream={"key": "s1", "maxlen": 100}),
                        {"name": "r2", "plugin": "redis",
                         "config": {"uri": srv.uri, "publish": False, "stream": {"key": "s2"}}}])
    d = daemon(m)
    assert d.wait(60) == 0, d.stderr()[-3000:]
    poll(lambda: len(sub.messages) >= 2000, 30, "2000 messages")
    sub.close()
    assert len(sub.messages) == 2000
    assert all(c.startswith("app.user_") for c, _ in sub.messages)
    c = srv.client()
    assert 100 <= c.xlen("s1") < 2000      # "~": trimmed in whole nodes
    assert c.xlen("s2") == 2000


def test_sink_loses_nothing_when_redis_is_killed_and_restarted(tmp_path, plugin_dir, daemon,
                                                               gen, redis_server):
    """redis-server SIGKILLed mid-stream (appendfsync always): the sink
    reports down (/healthz 503), keeps its events, reconnects and resends
    them in order; the stream ends up holding every event (duplicates
    allowed: at-least-once), first copies in order."""
    srv = redis_server(appendonly=True)
    n = 4000
    gen.write_changes(str(tmp_path / "changes.jsonl"), n)
    m = write_manifest(tmp_path / "m.json", plugin_dir,
                       [jsonl_source({"rate": 2000, "on_eof": "stay"})],
                       [redis_sink(srv.uri, stream={"key": "changes", "maxlen": 0},
                                   backoff_ms=50, max_backoff_ms=200)])
    d = daemon(m)
    c = srv.client()
    poll(lambda: c.xlen("changes") >= 500, 30, "500 entries before the crash")
    srv.kill()
    poll(lambda: health(d)[1]["sinks"]["r"] == "down", 30, "sink r down")
    assert health(d)[0] == 503
    d.wait_log(r"level=error plugin=redis name=r msg=\"127\.0\.0\.1:\d+: (connection lost|cannot "
               r"connect)")
    time.sleep(0.3)   # let events pile up while Redis is away
    srv.start()
    c = srv.client()

    def seqs():
        return [json.loads(e)["data"]["seq"] for e, _ in stream_events(c)]
    poll(lambda: len(set(seqs())) == n, 60, "every event in the stream")
    assert list(dict.fromkeys(seqs())) == list(range(n))
    d.wait_log(r"connected to 127\.0\.0\.1:\d+; writing the held events again")
    assert health(d)[1]["sinks"]["r"] == "ok"
    body = d.http_get("/metrics")[2]
    assert re.search(r'changecast_redis_reconnects_total\{sink="r"\} [1-9]', body), body
    assert d.stop() == 0


def test_sink_error_replies_are_retried_until_redis_accepts(tmp_path, plugin_dir, daemon, gen,
                                                            redis_server):
    """XADD refused (WRONGTYPE: the key holds a string): logged once with
    Redis' reason, sink "retrying", events held; once the key is fixed
    every event arrives, in order."""
    srv = redis_server()
    c = srv.client()
    c.set("changes", "not a stream")
    gen.write_changes(str(tmp_path / "changes.jsonl"), 100)
    m = write_manifest(tmp_path / "m.json", plugin_dir, [jsonl_source()],
                       [redis_sink(srv.uri, publish=False, stream={"key": "changes"},
                                   backoff_ms=20, max_backoff_ms=100)])
    d = daemon(m)
    d.wait_log(r"level=error plugin=redis name=r msg=\"127\.0\.0\.1:\d+: Redis refused a command: "
               r"WRONGTYPE")
    poll(lambda: health(d)[1]["sinks"]["r"] == "retrying", 30, "sink r retrying")
    time.sleep(0.3)
    assert len(re.findall(r"level=error plugin=redis", d.stderr())) == 1
    c.delete("changes")
    assert d.wait(60) == 0, d.stderr()[-3000:]
    seqs = [json.loads(e)["data"]["seq"] for e, _ in stream_events(c)]
    assert list(dict.fromkeys(seqs)) == list(range(100))


def test_sink_wrong_password_is_a_clear_error_and_unhealthy(tmp_path, plugin_dir, daemon, gen,
                                                            redis_server):
    """AUTH refused: logged with Redis' reason, sink down, /healthz 503, the
    process keeps serving and retries; nothing is acknowledged."""
    srv = redis_server(password="right")
    gen.write_changes(str(tmp_path / "changes.jsonl"), 10)
    uri = "redis://:wrong@127.0.0.1:%d/0" % srv.port
    m = write_manifest(tmp_path / "m.json", plugin_dir, [jsonl_source()],
                       [redis_sink(uri, backoff_ms=50, max_backoff_ms=100)])
    d = daemon(m)
    d.wait_log(r"level=error plugin=redis name=r msg=\"127\.0\.0\.1:\d+: AUTH failed: WRONGPASS "
               r"invalid username-password pair")
    poll(lambda: health(d)[1]["sinks"]["r"] == "down", 30, "sink r down")
    assert health(d)[0] == 503
    assert d.running()
    assert srv.client().dbsize() == 0
    assert d.stop() == 0


def test_sink_acl_user_and_db_from_the_uri(tmp_path, plugin_dir, daemon, gen, redis_server):
    """redis://user:password@host:port/db: AUTH user password (ACL), SELECT db."""
    srv = redis_server()
    srv.client().execute_command("ACL", "SETUSER", "cc", "on", ">pw%:@", "~*", "&*", "+@all")
    gen.write_changes(str(tmp_path / "changes.jsonl"), 20)
    uri = "redis://cc:pw%25%3A%40@127.0.0.1:{}/5".format(srv.port)
    m = write_manifest(tmp_path / "m.json", plugin_dir, [jsonl_source()],
                       [redis_sink(uri, publish=False, stream={"key": "changes"})])
    d = daemon(m)
    assert d.wait(60) == 0, d.stderr()[-3000:]
    import redis
    c5 = redis.Redis(host="127.0.0.1", port=srv.port, db=5)
    assert c5.xlen("changes") == 20
    assert srv.client().exists("changes") == 0


def test_unix_socket_with_db_for_the_sink_and_the_source(tmp_path, plugin_dir, daemon, gen,
                                                         redis_server):
    """unix:///path?db=N: the sink writes the stream over the socket into db
    3; the source reads it back over the socket."""
    srv = redis_server(unixsocket=True)
    uri = "unix://%s?db=3" % srv.socket
    gen.write_changes(str(tmp_path / "changes.jsonl"), 50)
    m = write_manifest(tmp_path / "m.json", plugin_dir, [jsonl_source()],
                       [redis_sink(uri, publish=False, stream={"key": "changes"}),
                        {"name": "f", "plugin": "file", "config": {"path": "a.jsonl"}}])
    assert daemon(m).wait(60) == 0
    import redis
    assert redis.Redis(host="127.0.0.1", port=srv.port, db=3).xlen("changes") == 50
    d = daemon(source_manifest(tmp_path, plugin_dir,
                               {"uri": uri, "mode": "stream",
                                "stream": {"key": "changes", "group": "g", "start": "0",
                                           "block_ms": 100}}))
    poll(lambda: (tmp_path / "b.jsonl").exists() and
         (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= 50, 30, "50 events")
    assert d.stop() == 0
    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()


@pytest.mark.parametrize("uri, why", [
    ("redis://127.0.0.1:99999", "the port must be a number from 1 to 65535"),
    ("rediss://127.0.0.1:6380", "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has "
                                "no TLS"),
    ("http://127.0.0.1", "expected redis://"),
])
def test_sink_bad_uri_exits_2_naming_the_key(tmp_path, plugin_dir, daemon, changecast_bin, gen,
                                             uri, why):
    gen.write_changes(str(tmp_path / "changes.jsonl"), 1)
    m = write_manifest(tmp_path / "m.json", plugin_dir, [jsonl_source()], [redis_sink(uri)])
    d = daemon(m)
    assert d.wait(30) == 2
    assert "sinks[0].config.uri: " + why in d.stderr()
    r = run_cli(changecast_bin, "check", "-c", str(m))   # check says so too
    assert r.returncode == 2 and "sinks[0].config.uri: " + why in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# redis_source

def source_manifest(tmp_path, plugin_dir, cfg, name="b.json", state="b.state", out="b.jsonl"):
    return write_manifest(tmp_path / name, plugin_dir,
                          [{"name": "edge", "plugin": "redis_source", "config": cfg}],
                          [{"name": "f", "plugin": "file", "config": {"path": out}}],
                          state={"path": state, "flush_ms": 50})


def envelope(k, recipient="user_1"):
    return json.dumps({"operation": "insert", "collection": "users", "document_id": "d%d" % k,
                       "data": {"seq": k}, "timestamp": 1745257727.0 + k, "namespace": "test",
                       "recipient": recipient, "id": "tok%06d" % k,
                       "cluster_time": {"t": 1745257727, "i": k + 1}},
                      separators=(",", ":"))


def test_source_pubsub_emits_each_payload_as_is(tmp_path, plugin_dir, daemon, redis_server):
    """PSUBSCRIBE mongo_change:*: every payload becomes an event whose
    envelope is the payload byte for byte; a payload that is not an
    envelope is logged with its channel and skipped."""
    srv = redis_server()
    d = daemon(source_manifest(tmp_path, plugin_dir, {"uri": srv.uri}))
    d.wait_log(r"subscribed on 127\.0\.0\.1:\d+ to mongo_change:\*")
    poll(lambda: health(d)[0] == 200, 30, "/healthz 200")
    c = srv.client()
    sent = []
    for k in range(50):
        if k == 20:
            c.publish("mongo_change:user_1", b'{"id":1}')
        e = envelope(k, None if k % 5 == 0 else "user_%d" % k)
        c.publish("mongo_change:" + ("broadcast" if k % 5 == 0 else "user_%d" % k), e)
        sent.append(e.encode())
    c.publish("other:x", envelope(99))   # outside the pattern
    poll(lambda: (tmp_path / "b.jsonl").exists() and
         (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= 50, 30, "50 events")
    d.wait_log(r"redis channel mongo_change:user_1: skipped event: envelope: \\\"id\\\" must be a "
               r"string")
    assert d.stop() == 0
    assert (tmp_path / "b.jsonl").read_bytes().splitlines() == sent


def test_source_subscribes_to_listed_channels_only(tmp_path, plugin_dir, daemon, redis_server):
    """channels: SUBSCRIBE to exactly those; other channels are not read."""
    srv = redis_server()
    d = daemon(source_manifest(tmp_path, plugin_dir,
                               {"uri": srv.uri, "channels": ["mongo_change:broadcast", "extra"]}))
    d.wait_log(r"subscribed on 127\.0\.0\.1:\d+ to channels of the config")
    c = srv.client()
    c.publish("mongo_change:user_1", envelope(1))
    c.publish("mongo_change:broadcast", envelope(2, None))
    c.publish("extra", envelope(3, None))
    poll(lambda: (tmp_path / "b.jsonl").exists() and
         (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= 2, 30, "2 events")
    assert d.stop() == 0
    assert (tmp_path / "b.jsonl").read_bytes().splitlines() == [envelope(2, None).encode(),
                                                                 envelope(3, None).encode()]


def test_source_stream_reads_with_a_group_and_acks(tmp_path, plugin_dir, daemon, redis_server):
    """Stream mode: the group is created (start "0": the whole stream), every
    entry's "event" becomes an event in order, and entries are XACKed once
    the state file holds their position."""
    srv = redis_server()
    c = srv.client()
    sent = [envelope(k).encode() for k in range(500)]
    for e in sent:
        c.xadd("changes", {"event": e, "recipient": "user_1"})
    cfg = {"uri": srv.uri, "mode": "stream",
           "stream": {"key": "changes", "group": "edge1", "start": "0", "block_ms": 100}}
    d = daemon(source_manifest(tmp_path, plugin_dir, cfg))
    poll(lambda: (tmp_path / "b.jsonl").exists() and
         (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= 500, 30, "500 events")
    poll(lambda: c.xpending("changes", "edge1")["pending"] == 0, 30, "every entry XACKed")
    assert health(d)[1]["sources"]["edge"] == "connected"
    # A new entry after the first batch arrives too.
    c.xadd("changes", {"event": envelope(500), "recipient": "user_1"})
    poll(lambda: (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= 501, 30, "501 events")
    assert d.stop() == 0
    assert (tmp_path / "b.jsonl").read_bytes().splitlines() == sent + [envelope(500).encode()]


def test_source_stream_resumes_after_sigkill_with_nothing_lost(tmp_path, plugin_dir, daemon,
                                                               redis_server):
    """SIGKILL mid-stream: the next run re-reads this consumer's pending
    entries (those at or before the saved position are only XACKed), then
    new ones; every entry reaches the sink, none is left pending."""
    srv = redis_server()
    c = srv.client()
    n = 20000
    pipe = c.pipeline(transaction=False)
    for k in range(n):
        pipe.xadd("changes", {"event": envelope(k, "user_%d" % (k % 7)), "recipient": "x"})
    pipe.execute()
    cfg = {"uri": srv.uri, "mode": "stream",
           "stream": {"key": "changes", "group": "edge1", "start": "0", "count": 50,
                      "block_ms": 100}}
    m = source_manifest(tmp_path, plugin_dir, cfg)
    d = daemon(m)
    poll(lambda: (tmp_path / "b.jsonl").exists() and
         (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= 2000, 30, "2000 events")
    d.signal(signal.SIGKILL)
    d.wait(30)
    d2 = daemon(m)
    poll(lambda: c.xpending("changes", "edge1")["pending"] == 0 and
         (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= n, 60, "all read and XACKed")
    # The killed run left entries delivered to this consumer and not XACKed.
    d2.wait_log(r"re-read this consumer's pending entries up to \d+-\d+")
    assert d2.stop() == 0
    lines = (tmp_path / "b.jsonl").read_bytes().splitlines()
    seqs = [json.loads(x)["data"]["seq"] for x in lines]
    assert set(seqs) == set(range(n))
    assert list(dict.fromkeys(seqs)) == list(range(n))


def test_source_bad_config_names_the_key(tmp_path, plugin_dir, daemon, changecast_bin):
    m = source_manifest(tmp_path, plugin_dir, {"mode": "stream"})
    d = daemon(m)
    assert d.wait(30) == 2
    assert 'sources[0].config.stream: mode \\"stream\\" needs' in d.stderr()
    r = run_cli(changecast_bin, "check", "-c", str(m))   # check says so too
    assert r.returncode == 2 and 'config.stream: mode \\"stream\\" needs' in r.stderr, r.stderr


def test_source_reconnects_and_reports_connecting(tmp_path, plugin_dir, daemon, redis_server):
    """Redis away: the source is "connecting" (/healthz 503) and retries;
    once Redis is back it subscribes again and events flow."""
    srv = redis_server()
    d = daemon(source_manifest(tmp_path, plugin_dir,
                               {"uri": srv.uri, "backoff_ms": 50, "max_backoff_ms": 100}))
    d.wait_log(r"subscribed on")
    srv.kill()
    poll(lambda: health(d)[1]["sources"]["edge"] == "connecting", 30, "source connecting")
    assert health(d)[0] == 503
    srv.start()
    poll(lambda: health(d)[0] == 200, 30, "/healthz 200 again")
    srv.client().publish("mongo_change:u", envelope(1, "u"))
    poll(lambda: (tmp_path / "b.jsonl").exists() and
         (tmp_path / "b.jsonl").read_bytes().count(b"\n") >= 1, 30, "1 event")
    assert d.stop() == 0


# ---------------------------------------------------------------------------
# Two nodes: A reads changes and publishes; B fans out from Redis

class WsClient:
    """A python3-websockets client on its own thread, collecting text frames."""

    def __init__(self, url):
        import asyncio
        import threading
        self.url = url
        self.messages = []
        self.error = None
        self.connected = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._t = threading.Thread(target=lambda: self._loop.run_until_complete(self._main()),
                                   daemon=True)
        self._t.start()
        if not self.connected.wait(30) or self.error:
            pytest.fail("WebSocket %s: %s" % (url, self.error or "no connection"))

    async def _main(self):
        import websockets
        try:
            async with websockets.connect(self.url, max_size=None) as ws:
                self.connected.set()
                async for m in ws:
                    self.messages.append(m)
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.error = e
            self.connected.set()

    def join(self):
        self._t.join(timeout=30)
        self._loop.close()


def test_two_nodes_publisher_to_redis_stream_to_websocket_edge(tmp_path, plugin_dir, daemon,
                                                               gen, redis_server):
    """A: jsonl -> redis (stream); B: redis_source (stream) -> websocket.
    A WebSocket client of B on /ws/user_3 receives every event for user_3
    and every broadcast, byte for byte as A built them, in order."""
    srv = redis_server()
    n = 2000
    port = free_port()
    (tmp_path / "b").mkdir()
    b = write_manifest(tmp_path / "b" / "b.json", plugin_dir,
                       [{"name": "edge", "plugin": "redis_source",
                         "config": {"uri": srv.uri, "mode": "stream",
                                    "stream": {"key": "changes", "group": "edge-b",
                                               "block_ms": 100}}}],
                       [{"name": "live", "plugin": "websocket", "on_full": "block",
                         "config": {"listen": "127.0.0.1:%d" % port, "path": "/ws/{recipient}"}}])
    db = daemon(b)
    db.wait_log(r"listening on 127\.0\.0\.1:%d" % port)
    db.wait_log(r"reading stream changes on")
    client = WsClient("ws://127.0.0.1:%d/ws/user_3" % port)

    gen.write_changes(str(tmp_path / "changes.jsonl"), n)
    lines = (tmp_path / "changes.jsonl").read_text().splitlines()
    for k in range(0, n, 10):   # every tenth a broadcast
        doc = json.loads(lines[k])
        for part in ("fullDocument", "fullDocumentBeforeChange"):
            if isinstance(doc.get(part), dict):
                doc[part].pop("owner", None)
        lines[k] = json.dumps(doc)
    (tmp_path / "changes.jsonl").write_text("\n".join(lines) + "\n")
    a = write_manifest(tmp_path / "a.json", plugin_dir, [jsonl_source()],
                       [redis_sink(srv.uri, publish=False, stream={"key": "changes"}),
                        {"name": "f", "plugin": "file", "config": {"path": "a.jsonl"}}])
    da = daemon(a)
    assert da.wait(60) == 0, da.stderr()[-3000:]
    built = (tmp_path / "a.jsonl").read_bytes().splitlines()
    want = [x.decode() for x in built
            if json.loads(x)["recipient"] in ("user_3", None)]
    assert len(want) > n // 10
    poll(lambda: len(client.messages) >= len(want), 60, "%d WebSocket messages" % len(want))
    assert db.stop() == 0
    client.join()
    assert client.messages == want
