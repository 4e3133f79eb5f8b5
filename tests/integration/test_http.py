"""The http (webhook) sink against a real receiver (http_receiver.py, its own
process): bodies, headers and signatures exact; retries on 5xx, 429 (with
Retry-After), timeouts and a receiver that is down; dead letters for other
4xx and exhausted retries; bounded concurrency; per-recipient order under
retries; nothing lost across a restart while retrying."""

import base64
import hashlib
import hmac
import json
import re
import signal
import socket
import time
from collections import defaultdict

import pytest

from cchelpers import poll, timeout, write_manifest
from http_receiver import Receiver

# Hand-written changes and the bodies the SPEC says they become: one
# recipient, a delete (pre-image), a broadcast (no owner), two recipients
# (one POST each, ids suffixed with the recipient).
KNOWN = [
    ('{"_id":{"_data":"82BB01"},"operationType":"insert",'
     '"clusterTime":{"$timestamp":{"t":1745257727,"i":1}},"ns":{"db":"test","coll":"users"},'
     '"documentKey":{"_id":"u1"},"fullDocument":{"_id":"u1","owner":"alice","n":1}}',
     [{"recipient": "alice",
       "event": {"operation": "insert", "collection": "users", "document_id": "u1",
                 "data": {"_id": "u1", "owner": "alice", "n": 1}, "timestamp": 1745257727.0,
                 "namespace": "test", "recipient": "alice", "id": "82BB01",
                 "cluster_time": {"t": 1745257727, "i": 1}}}]),
    ('{"_id":{"_data":"82BB02"},"operationType":"delete",'
     '"clusterTime":{"$timestamp":{"t":1745257728,"i":2}},"ns":{"db":"test","coll":"users"},'
     '"documentKey":{"_id":{"$numberInt":"42"}},'
     '"fullDocumentBeforeChange":{"_id":42,"owner":"bob"}}',
     [{"recipient": "bob",
       "event": {"operation": "delete", "collection": "users", "document_id": "42",
                 "data": {"_id": 42, "owner": "bob"}, "timestamp": 1745257728.0,
                 "namespace": "test", "recipient": "bob", "id": "82BB02",
                 "cluster_time": {"t": 1745257728, "i": 2}}}]),
    ('{"_id":{"_data":"82BB03"},"operationType":"update",'
     '"clusterTime":{"$timestamp":{"t":1745257729,"i":3}},"ns":{"db":"shop","coll":"orders"},'
     '"documentKey":{"_id":"o7"},'
     '"updateDescription":{"updatedFields":{"status":"paid"},"removedFields":["cart"]}}',
     [{"event": {"operation": "update", "collection": "orders", "document_id": "o7",
                 "data": {}, "timestamp": 1745257729.0, "namespace": "shop",
                 "recipient": None, "id": "82BB03", "cluster_time": {"t": 1745257729, "i": 3},
                 "update": {"updated": {"status": "paid"}, "removed": ["cart"]}}}]),
    ('{"_id":{"_data":"82BB04"},"operationType":"replace",'
     '"clusterTime":{"$timestamp":{"t":1745257730,"i":4}},"ns":{"db":"test","coll":"users"},'
     '"documentKey":{"_id":"u9"},"fullDocument":{"_id":"u9","owner":["alice","bob"]}}',
     [{"recipient": r,
       "event": {"operation": "replace", "collection": "users", "document_id": "u9",
                 "data": {"_id": "u9", "owner": ["alice", "bob"]}, "timestamp": 1745257730.0,
                 "namespace": "test", "recipient": r, "id": "82BB04:" + r,
                 "cluster_time": {"t": 1745257730, "i": 4}}} for r in ("alice", "bob")]),
]

SAMPLE = re.compile(r'^changecast_sink_events_total\{([^}]*)\} (\S+)$', re.M)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@pytest.fixture
def receiver(tmp_path):
    """receiver(script, port=0, start=True) -> a Receiver process, stopped at
    the end of the test."""
    made = []

    def make(script=None, port=0, start=True, name="rx"):
        r = Receiver(tmp_path / name, script or {})
        made.append(r)
        if start:
            r.start(port)
        return r
    yield make
    for r in made:
        r.stop()


def free_port():
    """A loopback port nobody listens on (for a receiver started later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hook_manifest(tmp_path, plugin_dir, url, on_eof="finish", name="m.json", source=None,
                  extra=None, **config):
    """jsonl (changes.jsonl, recipient fullDocument.owner) -> http sink
    "hook" posting to `url`; `config` overrides the sink's defaults here."""
    src = {"path": "changes.jsonl", "recipient": "fullDocument.owner", "on_eof": on_eof}
    src.update(source or {})
    cfg = {"url": url, "timeout_ms": 2000, "max_retries": 3, "concurrency": 4,
           "dead_letter": "failed.jsonl", "backoff_ms": 50, "max_backoff_ms": 1000}
    cfg.update(config)
    top = {}
    top.update(extra or {})
    return write_manifest(tmp_path / name, plugin_dir,
                          [{"name": "replay", "plugin": "jsonl", "config": src}],
                          [{"name": "hook", "plugin": "http", "config": cfg}], **top)


def sink_counts(d):
    """{result: value} of changecast_sink_events_total for sink "hook"."""
    status, _, body = d.http_get("/metrics")
    assert status == 200
    out = {}
    for labels, value in SAMPLE.findall(body):
        lab = dict(LABEL.findall(labels))
        if lab.get("sink") == "hook":
            out[lab["result"]] = float(value)
    return out


def sink_health(d):
    _, _, body = d.http_get("/healthz")
    return json.loads(body)["sinks"]["hook"]


def wait_settled(d, ok, failed=0, seconds=120):
    """Waits until sink hook's ok and failed counters reach `ok` and
    `failed`; returns the counts (the caller asserts them exactly)."""
    want_ok, want_failed = ok, failed

    def settled():
        c = sink_counts(d)
        return c if c.get("ok", 0) >= want_ok and c.get("failed", 0) >= want_failed else None
    return poll(settled, seconds, "ok >= %d and failed >= %d for sink hook"
                % (want_ok, want_failed), interval=0.05)


def ok(q):
    return 200 <= q["status"] < 300 and q["sent"] and not q["close"]


def delivered(reqs):
    return [q for q in reqs if ok(q)]


def dead_letters(tmp_path):
    p = tmp_path / "failed.jsonl"
    if not p.exists():
        return []
    data = p.read_bytes()
    assert not data or data.endswith(b"\n"), "dead letter file ends with a cut line"
    return [json.loads(l) for l in data.split(b"\n")[:-1]]


def seq(q):
    return json.loads(q["body"])["event"]["data"]["seq"]


def header(q, name):
    """The one value of header `name` (case-insensitive); fails if repeated."""
    vals = [v for k, v in q["headers"] if k.lower() == name.lower()]
    assert len(vals) <= 1, "header %s sent %d times: %r" % (name, len(vals), vals)
    return vals[0] if vals else None


def wait_requests(r, cond, seconds, what):
    return poll(lambda: cond(r.requests()), seconds, what, interval=0.05)


def logged(r, cond, seconds=10):
    """The receiver's requests once cond(requests) holds (it logs a request
    just after replying, so the daemon may be done a moment before the last
    line is written), or after `seconds` as they are: the caller's
    assertions then say what is missing."""
    deadline = time.monotonic() + timeout(seconds)
    while True:
        reqs = r.requests()
        if cond(reqs) or time.monotonic() > deadline:
            return reqs
        time.sleep(0.02)


def at_least(n):
    return lambda reqs: len(reqs) >= n


def all_delivered(ids):
    want = set(ids)
    return lambda reqs: want <= {q["id"] for q in delivered(reqs)}


def write_events(tmp_path, gen, n):
    gen.write_changes(str(tmp_path / "changes.jsonl"), n)


def test_bodies_and_headers_exact(tmp_path, plugin_dir, daemon, receiver):
    """Each change becomes exactly the SPEC's POST: {"recipient": r, "event":
    envelope} per recipient, {"event": envelope} (no recipient key) for a
    broadcast; method POST to the configured path, Content-Type
    application/json, the configured headers, no signature without a secret,
    and the connection kept alive between requests."""
    (tmp_path / "changes.jsonl").write_text("".join(line + "\n" for line, _ in KNOWN))
    r = receiver({"default": {"status": 200}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url("/hook"), headers={"X-Test": "1"},
                             concurrency=1))
    assert d.wait() == 0, d.stderr()[-4000:]
    reqs = logged(r, at_least(5))
    want = [b for _, bodies in KNOWN for b in bodies]
    assert len(reqs) == len(want), [q["body"] for q in reqs]
    by_id = {}
    for q in reqs:
        doc = json.loads(q["body"])
        assert doc["event"]["id"] not in by_id, "event %s posted twice" % doc["event"]["id"]
        by_id[doc["event"]["id"]] = (q, doc)
    for w in want:
        q, doc = by_id[w["event"]["id"]]
        assert doc == w   # a broadcast's body has no "recipient" key at all
        assert q["method"] == "POST" and q["path"] == "/hook"
        ctype = header(q, "Content-Type")
        assert ctype and ctype.split(";")[0].strip().lower() == "application/json", ctype
        assert header(q, "X-Test") == "1"
        for h in ("webhook-signature", "webhook-id", "webhook-timestamp"):
            assert header(q, h) is None, "%s sent without a secret" % h
    # concurrency 1: in source order, and over one kept-alive connection.
    assert [json.loads(q["body"])["event"]["id"] for q in sorted(reqs, key=lambda q: q["n"])] \
        == [w["event"]["id"] for w in want]
    assert len({q["conn"] for q in reqs}) == 1, "a new connection per request (no keep-alive)"
    assert dead_letters(tmp_path) == []


WHSEC_KEY = bytes(range(250, 256)) + b"\x00changecast-test-key\xff"


@pytest.mark.parametrize("secret,key", [
    ("whsec_" + base64.b64encode(WHSEC_KEY).decode(), WHSEC_KEY),
    ("plain-s3cret", b"plain-s3cret"),
], ids=["whsec", "plain"])
def test_signature_verifies(tmp_path, plugin_dir, daemon, receiver, gen, secret, key):
    """With `secret`, every POST carries webhook-id (the event id),
    webhook-timestamp (unix seconds, now) and webhook-signature "v1," +
    base64(HMAC-SHA256(key, id.timestamp.body)), where the key of a
    whsec_ secret is its base64-decoded rest and any other secret is its own
    bytes: checked here with Python's hmac over the bytes received."""
    (tmp_path / "changes.jsonl").write_text("".join(line + "\n" for line, _ in KNOWN)
                                            + "".join(gen.event_line(k) + "\n"
                                                      for k in range(20)))
    r = receiver({"default": {"status": 204}})
    t0 = time.time()
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), secret=secret))
    assert d.wait() == 0, d.stderr()[-4000:]
    t1 = time.time()
    reqs = logged(r, at_least(25))
    assert len(reqs) == 5 + 20
    for q in reqs:
        body = q["body"].encode()
        wid, wts, wsig = (header(q, h) for h in ("webhook-id", "webhook-timestamp",
                                                 "webhook-signature"))
        assert wid == json.loads(body)["event"]["id"]
        assert wts is not None and re.fullmatch(r"\d+", wts), wts
        assert int(t0) - 1 <= int(wts) <= t1 + 1, "webhook-timestamp %s is not now" % wts
        mac = hmac.new(key, b"%s.%s.%s" % (wid.encode(), wts.encode(), body), hashlib.sha256)
        assert wsig == "v1," + base64.b64encode(mac.digest()).decode(), \
            "signature %r does not verify for body %r" % (wsig, body[:200])
    # The key really is the decoded secret: the raw text would not verify.
    if secret.startswith("whsec_"):
        q = reqs[0]
        wrong = hmac.new(secret.encode(), b"%s.%s.%s" % (
            header(q, "webhook-id").encode(), header(q, "webhook-timestamp").encode(),
            q["body"].encode()), hashlib.sha256)
        assert header(q, "webhook-signature") != "v1," + base64.b64encode(wrong.digest()).decode()


def test_500_then_200_retried_once(tmp_path, plugin_dir, daemon, receiver, gen):
    """The first POST gets 500: that event is posted again (after a backoff)
    and acknowledged on the 200; the others once each. Metrics: ok 5,
    retried 1, failed 0; no dead letter; /healthz back to ok."""
    write_events(tmp_path, gen, 5)
    r = receiver({"rules": [{"n": 1, "status": 500}], "default": {"status": 200}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), on_eof="stay"))
    c = wait_settled(d, ok=5)
    reqs = logged(r, at_least(6))
    first = min(reqs, key=lambda q: q["n"])
    assert first["status"] == 500
    again = [q for q in reqs if q["id"] == first["id"]]
    assert len(again) == 2 and ok(max(again, key=lambda q: q["n"]))
    assert sorted(q["id"] for q in delivered(reqs)) == [gen.token(k) for k in range(5)]
    assert len(reqs) == 6
    assert c == {"ok": 5, "retried": 1, "failed": 0, "dropped": 0}, c
    assert dead_letters(tmp_path) == []
    poll(lambda: sink_health(d) == "ok", 30, "/healthz sinks.hook ok")
    assert d.stop() == 0, d.stderr()[-4000:]


def test_429_honours_retry_after(tmp_path, plugin_dir, daemon, receiver, gen):
    """A 429 with Retry-After: 1 delays that event's retry by at least about a
    second (backoff_ms alone would retry after ~50 ms); then it is delivered."""
    write_events(tmp_path, gen, 3)
    r = receiver({"rules": [{"n": 1, "status": 429, "headers": {"Retry-After": "1"}}],
                  "default": {"status": 200}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), backoff_ms=50, max_backoff_ms=100))
    assert d.wait() == 0, d.stderr()[-4000:]
    reqs = logged(r, at_least(4))
    first = min(reqs, key=lambda q: q["n"])
    assert first["status"] == 429
    retry = [q for q in reqs if q["id"] == first["id"] and q["n"] != first["n"]]
    assert len(retry) == 1 and ok(retry[0])
    gap = retry[0]["t_recv"] - first["t_reply"]
    assert gap >= 0.9, "retried %.3f s after a 429 with Retry-After: 1" % gap
    assert sorted(q["id"] for q in delivered(reqs)) == [gen.token(k) for k in range(3)]
    assert dead_letters(tmp_path) == []


def test_400_dead_letter_not_retried(tmp_path, plugin_dir, daemon, receiver, gen):
    """A 400 is final: the event goes to the dead-letter file at once (one
    line: event, recipient, status 400, a reason, attempts 1), is never
    posted again, and is acknowledged (the others flow; failed 1, retried 0)."""
    write_events(tmp_path, gen, 4)
    bad = gen.token(1)
    r = receiver({"rules": [{"id": bad, "status": 400}], "default": {"status": 200}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), on_eof="stay"))
    wait_settled(d, ok=3, failed=1)
    reqs = logged(r, at_least(4))
    assert [q["status"] for q in reqs if q["id"] == bad] == [400]
    assert len(reqs) == 4
    dl = poll(lambda: dead_letters(tmp_path), 30, "a dead letter line")
    assert len(dl) == 1
    posted = json.loads(next(q for q in reqs if q["id"] == bad)["body"])
    line = dl[0]
    assert set(line) == {"event", "recipient", "status", "reason", "attempts"}, line
    assert line["event"] == posted["event"] and line["event"]["id"] == bad
    assert line["recipient"] == gen.owner(1)
    assert line["status"] == 400
    assert isinstance(line["reason"], str) and line["reason"].strip()
    assert line["attempts"] == 1
    # ok counts deliveries only: the dead-lettered event is "failed".
    c = sink_counts(d)
    assert c == {"ok": 3, "failed": 1, "retried": 0, "dropped": 0}, \
        "%r: ok must count deliveries, not every acknowledgement" % c
    assert d.stop() == 0, d.stderr()[-4000:]


def test_exhausted_retries_dead_letter(tmp_path, plugin_dir, daemon, receiver, gen):
    """A receiver answering 503 forever: with max_retries 2 each event is
    posted exactly 3 times, then dead-lettered with status 503 and attempts
    3; failed 3, retried 6 (two per event), ok 0; the run still finishes."""
    write_events(tmp_path, gen, 3)
    r = receiver({"default": {"status": 503}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), on_eof="stay", max_retries=2))
    wait_settled(d, ok=0, failed=3)
    reqs = logged(r, at_least(9))
    per_id = defaultdict(int)
    for q in reqs:
        per_id[q["id"]] += 1
    assert dict(per_id) == {gen.token(k): 3 for k in range(3)}
    dl = dead_letters(tmp_path)
    assert sorted(x["event"]["id"] for x in dl) == [gen.token(k) for k in range(3)]
    for x in dl:
        assert x["status"] == 503 and x["attempts"] == 3, x
        assert x["recipient"] == x["event"]["recipient"]
        assert isinstance(x["reason"], str) and x["reason"].strip()
    # ok counts deliveries only: none here.
    c = sink_counts(d)
    assert c == {"ok": 0, "failed": 3, "retried": 6, "dropped": 0}, \
        "%r: ok must count deliveries, not every acknowledgement" % c
    assert d.stop() == 0, d.stderr()[-4000:]


def test_receiver_down_then_up(tmp_path, plugin_dir, daemon, receiver, gen):
    """The daemon starts while nothing listens on the webhook's port:
    connection errors are retried (sink "retrying", retried counter rising,
    nothing dead-lettered); once a receiver comes up on that port every event
    is delivered, none lost, and the sink is ok again."""
    n = 200
    write_events(tmp_path, gen, n)
    port = free_port()
    r = receiver({"default": {"status": 200}}, start=False)
    d = daemon(hook_manifest(tmp_path, plugin_dir, "http://127.0.0.1:%d/hook" % port,
                             on_eof="stay", max_retries=1000, backoff_ms=50,
                             max_backoff_ms=300))
    poll(lambda: sink_health(d) == "retrying", 60, "/healthz sinks.hook retrying")
    poll(lambda: sink_counts(d).get("retried", 0) >= 3, 60, "a few retries")
    assert sink_counts(d).get("ok", 0) == 0
    r.start(port)
    c = wait_settled(d, ok=n)
    assert c["ok"] == n and c["failed"] == 0, c
    reqs = logged(r, all_delivered(gen.token(k) for k in range(n)))
    got = [q["id"] for q in delivered(reqs)]
    assert sorted(got) == sorted(gen.token(k) for k in range(n))
    assert dead_letters(tmp_path) == []
    poll(lambda: sink_health(d) == "ok", 30, "/healthz sinks.hook ok")
    assert d.stop() == 0, d.stderr()[-4000:]


def test_finished_replay_waits_for_sinks_past_shutdown_ms(tmp_path, plugin_dir, daemon,
                                                          receiver, gen):
    """When every source has finished, the daemon waits for lossless sinks
    however long it takes (shutdown_ms bounds a SIGTERM, not a finish): with
    the receiver down it keeps running well past shutdown_ms; once the
    receiver is up everything is delivered and the daemon exits 0 by itself.
    A SIGTERM while it waits bounds the wait to shutdown_ms."""
    n = 20
    write_events(tmp_path, gen, n)
    port = free_port()
    r = receiver({"default": {"status": 200}}, start=False)
    d = daemon(hook_manifest(tmp_path, plugin_dir, "http://127.0.0.1:%d/hook" % port,
                             max_retries=1000, backoff_ms=50, max_backoff_ms=200,
                             extra={"shutdown_ms": 300}))
    d.wait_log(r"every source finished; stopping once lossless sinks have delivered")
    poll(lambda: sink_counts(d).get("retried", 0) >= 10, 60, "retries past shutdown_ms")
    assert d.running(), d.stderr()[-3000:]
    r.start(port)
    assert d.wait() == 0, d.stderr()[-3000:]
    got = [q["id"] for q in delivered(logged(r, all_delivered(gen.token(k) for k in range(n))))]
    assert sorted(set(got)) == sorted(gen.token(k) for k in range(n))

    # Again with the receiver down for good: SIGTERM bounds the wait.
    d2 = daemon(hook_manifest(tmp_path, plugin_dir, "http://127.0.0.1:%d/hook" % free_port(),
                              name="m2.json", max_retries=1000, backoff_ms=50,
                              max_backoff_ms=200, extra={"shutdown_ms": 300,
                                                         "state": {"path": "s2.state"}}))
    d2.wait_log(r"every source finished; stopping once lossless sinks have delivered")
    d2.signal(signal.SIGTERM)
    d2.wait_log(r"SIGTERM received: waiting at most 300 ms more for sinks")
    assert d2.wait(30) == 0, d2.stderr()[-3000:]
    assert "shutdown_ms passed with" in d2.stderr()


def test_slow_receiver_timeouts_retried(tmp_path, plugin_dir, daemon, receiver, gen):
    """Replies slower than timeout_ms count as failures and are retried (the
    next attempt comes no sooner than the timeout); once the receiver is fast
    again every event is delivered, nothing dead-lettered."""
    n = 10
    write_events(tmp_path, gen, n)
    r = receiver({"default": {"status": 200, "delay_ms": 3000}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), on_eof="stay", timeout_ms=500,
                             max_retries=1000, backoff_ms=50, max_backoff_ms=200))

    def retried_ids(reqs):
        per = defaultdict(list)
        for q in reqs:
            per[q["id"]].append(q)
        return {i: sorted(qs, key=lambda q: q["n"]) for i, qs in per.items() if len(qs) >= 2}
    again = wait_requests(r, retried_ids, 60, "an event posted twice after a timeout")
    poll(lambda: sink_counts(d).get("retried", 0) >= 1, 30, "the retried counter")
    assert sink_counts(d).get("ok", 0) == 0
    for qs in again.values():
        gap = qs[1]["t_recv"] - qs[0]["t_recv"]
        assert gap >= 0.45, "retry %.3f s after the first attempt, before timeout_ms" % gap
    r.set_script({"default": {"status": 200}})
    c = wait_settled(d, ok=n)
    assert c["ok"] == n and c["failed"] == 0 and c["retried"] >= 1, c
    reqs = logged(r, all_delivered(gen.token(k) for k in range(n)))
    fast = [q for q in delivered(reqs) if q["delay_ms"] == 0]
    assert sorted({q["id"] for q in fast}) == sorted(gen.token(k) for k in range(n))
    assert dead_letters(tmp_path) == []
    assert d.stop() == 0, d.stderr()[-4000:]


def test_concurrency_bounded(tmp_path, plugin_dir, daemon, receiver, gen):
    """1000 events, a receiver taking 20 ms a request, concurrency 4: the
    receiver never has more than 4 requests in flight, but more than 1 (the
    limit is used); every event arrives once, over a few kept-alive
    connections."""
    n = 1000
    write_events(tmp_path, gen, n)
    r = receiver({"default": {"status": 200, "delay_ms": 20}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), concurrency=4))
    assert d.wait(seconds=300) == 0, d.stderr()[-4000:]
    reqs = logged(r, at_least(n))
    assert sorted(q["id"] for q in reqs) == sorted(gen.token(k) for k in range(n))
    most = max(q["inflight"] for q in reqs)
    assert most <= 4, "%d requests in flight with concurrency 4" % most
    assert most > 1, "never more than one request in flight (concurrency unused)"
    conns = len({q["conn"] for q in reqs})
    assert conns <= 40, "%d connections for %d requests (keep-alive not used)" % (conns, n)


def test_per_recipient_order_under_retries(tmp_path, plugin_dir, daemon, receiver, gen):
    """Each recipient's 3rd request fails once with 503. Per recipient, a
    request only ever carries the earliest event of that recipient not yet
    delivered (a retrying event holds back its recipient's later events, so
    they arrive in seq order), while other recipients' later events overtake
    the held one (the hold is per recipient, not global). All delivered once."""
    n = 2000
    recipients = 97
    write_events(tmp_path, gen, n)
    r = receiver({"rules": [{"recipient_req": 3, "status": 503}], "default": {"status": 200}})
    d = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), concurrency=4, backoff_ms=200,
                             max_backoff_ms=1000))
    assert d.wait(seconds=300) == 0, d.stderr()[-4000:]
    reqs = sorted(logged(r, at_least(n + 97)), key=lambda q: q["n"])
    fails = [q for q in reqs if q["status"] == 503]
    assert len(fails) == recipients
    assert sorted(q["id"] for q in delivered(reqs)) == sorted(gen.token(k) for k in range(n))

    want = defaultdict(list)
    for k in range(n):
        want[gen.owner(k)].append(k)
    nxt = defaultdict(int)
    for q in reqs:
        rc, s = q["recipient"], seq(q)
        expect = want[rc][nxt[rc]]
        assert s == expect, ("%s: request %d carries seq %d while seq %d of that recipient is "
                             "not delivered yet (order broken)" % (rc, q["n"], s, expect))
        if ok(q):
            nxt[rc] += 1

    # Overtaking: between a recipient's 503 and its retry, some later event
    # of another recipient was delivered.
    overtaken = 0
    for f in fails:
        retry = next(q for q in reqs if q["id"] == f["id"] and q["n"] > f["n"])
        if any(ok(q) and q["recipient"] != f["recipient"] and seq(q) > seq(f)
               for q in reqs if f["n"] < q["n"] < retry["n"]):
            overtaken += 1
    assert overtaken >= 1, "no event ever overtook a retrying one: retries block every recipient"
    assert dead_letters(tmp_path) == []


def test_sigterm_while_retrying_then_restart(tmp_path, plugin_dir, daemon, receiver, gen):
    """The receiver takes 50 events, then answers 503: the sink reports
    "retrying"; SIGTERM stops the daemon (exit 0) with events unacknowledged
    and nothing dead-lettered; a restart against a healthy receiver delivers
    every event at least once (by id), the dead-letter file stays empty."""
    n = 500
    write_events(tmp_path, gen, n)
    r = receiver({"rules": [{"n": list(range(1, 51)), "status": 200}],
                  "default": {"status": 503}})
    m = hook_manifest(tmp_path, plugin_dir, r.url(), on_eof="stay", max_retries=1000,
                      backoff_ms=50, max_backoff_ms=200, extra={"shutdown_ms": 500})
    d = daemon(m)
    poll(lambda: sink_health(d) == "retrying", 60, "/healthz sinks.hook retrying")
    poll(lambda: sink_counts(d).get("retried", 0) >= 4, 60, "a few retries")
    d.signal(signal.SIGTERM)
    assert d.wait() == 0, d.stderr()[-4000:]
    run1 = {q["id"] for q in delivered(r.requests())}
    assert 0 < len(run1) <= 50
    assert dead_letters(tmp_path) == [], "SIGTERM dead-lettered events it had not given up on"

    r.set_script({"default": {"status": 200}})
    d2 = daemon(hook_manifest(tmp_path, plugin_dir, r.url(), name="m2.json", max_retries=1000,
                              backoff_ms=50, max_backoff_ms=200))
    assert d2.wait() == 0, d2.stderr()[-4000:]
    reqs = logged(r, all_delivered(gen.token(k) for k in range(n)))
    got = {q["id"] for q in delivered(reqs)}
    missing = sorted(set(gen.token(k) for k in range(n)) - got)
    assert not missing, "%d events never delivered, first %s" % (len(missing), missing[:5])
    assert dead_letters(tmp_path) == []
