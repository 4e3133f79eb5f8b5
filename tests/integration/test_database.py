"""The database sink against the MongoDB wire-protocol peer (tests/peers/),
through libmongoc exactly as against mongod: the stored documents and their
fields, broadcasts, SIGKILL and restart mid-stream (no duplicate, none
missing), the server down then up and failing writes (nothing lost), the TTL
index, and bad config."""

import datetime
import json
import re
import signal
import time

import pytest

from cchelpers import poll, read_envelopes, run_cli, timeout, write_manifest
from mongopeer import MongoPeer, free_port
import gen_changes

SAMPLE = re.compile(r'^(changecast_[a-z_]+)\{([^}]*)\} (\S+)$', re.M)


@pytest.fixture
def peer(tmp_path):
    p = MongoPeer(tmp_path)
    p.start()
    yield p
    p.stop()


def manifest(tmp_path, plugin_dir, peer_uri, db_config=None, source=None, also_file=False,
             **extra):
    src = {"path": "changes.jsonl", "recipient": "fullDocument.owner"}
    src.update(source or {})
    cfg = {"uri": peer_uri, "database": "audit", "collection": "activity",
           "backoff_ms": 50, "max_backoff_ms": 500}
    cfg.update(db_config or {})
    sinks = [{"name": "store", "plugin": "database", "config": cfg}]
    if also_file:
        sinks.append({"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}})
    return write_manifest(tmp_path / "m.json", plugin_dir,
                          [{"name": "replay", "plugin": "jsonl", "config": src}], sinks,
                          **extra)


def metrics(d):
    _, _, body = d.http_get("/metrics")
    out = {}
    for name, labels, value in SAMPLE.findall(body):
        out[(name, labels)] = float(value)
    return out


def docs_total(d, result):
    return metrics(d).get(("changecast_database_documents_total",
                           'sink="store",result="%s"' % result), 0)


def stored_ids(peer):
    return [doc["_id"] for doc in peer.client().audit.activity.find({}, {"_id": 1})]


def test_documents_have_the_python_packages_fields(tmp_path, plugin_dir, daemon, peer):
    """Each event becomes {_id: event id, recipient, message: envelope,
    timestamp: date of the write}; a broadcast has broadcast: true and no
    recipient; the message is the envelope file sink writes, with BSON
    types for Extended JSON values."""
    n = 41
    gen_changes.write_changes(str(tmp_path / "changes.jsonl"), n - 1)
    with open(tmp_path / "changes.jsonl", "a") as f:   # no fullDocument: a broadcast
        f.write('{"_id":{"_data":"82BB03"},"operationType":"update",'
                '"clusterTime":{"$timestamp":{"t":1745257729,"i":3}},'
                '"ns":{"db":"shop","coll":"orders"},"documentKey":{"_id":"o7"},'
                '"updateDescription":{"updatedFields":{"status":"paid"},'
                '"removedFields":["cart"]}}\n')
    before = datetime.datetime.utcnow().replace(microsecond=0)
    d = daemon(manifest(tmp_path, plugin_dir, peer.uri, also_file=True,
                        source={"on_eof": "stay"}))
    coll = peer.client().audit.activity
    poll(lambda: coll.count_documents({}) == n, 60, "%d documents in audit.activity" % n)
    assert d.stop() == 0, d.stderr()[-3000:]
    after = datetime.datetime.utcnow() + datetime.timedelta(seconds=1)

    envelopes = {e["id"]: e for e in read_envelopes(tmp_path / "out.jsonl")}
    assert len(envelopes) == n
    seen_broadcast = seen_recipient = 0
    for doc in coll.find({}):
        env = envelopes[doc["_id"]]
        assert isinstance(doc["timestamp"], datetime.datetime)
        assert before <= doc["timestamp"] <= after
        msg = dict(doc["message"])
        assert msg == env, (msg, env)
        if env["recipient"] is None:
            assert list(doc.keys()) == ["_id", "message", "timestamp", "broadcast"]
            assert doc["broadcast"] is True
            seen_broadcast += 1
        else:
            assert list(doc.keys()) == ["_id", "recipient", "message", "timestamp"]
            assert doc["recipient"] == env["recipient"]
            seen_recipient += 1
    assert seen_broadcast > 0 and seen_recipient > 0


def test_several_recipients_give_one_document_each(tmp_path, plugin_dir, daemon, peer):
    line = ('{"_id":{"_data":"82CC01"},"operationType":"insert",'
            '"clusterTime":{"$timestamp":{"t":1745257727,"i":1}},'
            '"ns":{"db":"shop","coll":"orders"},"documentKey":{"_id":{"$oid":'
            '"5f1e4b2c9d3e4a0012345678"}},"fullDocument":{"_id":{"$oid":'
            '"5f1e4b2c9d3e4a0012345678"},"owner":["ann","bob"],'
            '"at":{"$date":"2025-04-21T17:48:47.405Z"}}}\n')
    (tmp_path / "changes.jsonl").write_text(line)
    d = daemon(manifest(tmp_path, plugin_dir, peer.uri, source={"on_eof": "stay"}))
    coll = peer.client().audit.activity
    poll(lambda: coll.count_documents({}) == 2, 60, "two documents")
    d.stop()
    docs = {doc["_id"]: doc for doc in coll.find({})}
    assert sorted(docs) == ["82CC01:ann", "82CC01:bob"]
    for r in ("ann", "bob"):
        doc = docs["82CC01:" + r]
        assert doc["recipient"] == r
        assert doc["message"]["recipient"] == r
        assert doc["message"]["document_id"] == "5f1e4b2c9d3e4a0012345678"
        # Relaxed Extended JSON in data is stored as BSON: a date, an ObjectId.
        assert doc["message"]["data"]["at"] == datetime.datetime(2025, 4, 21, 17, 48, 47, 405000)
        assert str(doc["message"]["data"]["_id"]) == "5f1e4b2c9d3e4a0012345678"


def test_fields_with_dotted_paths_are_stored(tmp_path, plugin_dir, daemon, peer):
    """`fields` makes data keys like "fullDocument.name": field names with
    dots, which MongoDB 5.0+ stores; the driver must not refuse them."""
    gen_changes.write_changes(str(tmp_path / "changes.jsonl"), 10)
    d = daemon(manifest(tmp_path, plugin_dir, peer.uri, source={
        "on_eof": "stay", "fields": ["fullDocument.name", "fullDocument.seq"]}))
    coll = peer.client().audit.activity
    poll(lambda: coll.count_documents({}) == 10, 60, "10 documents")
    d.stop()
    doc = coll.find_one({"_id": gen_changes.token(0)})
    assert doc["message"]["data"] == {"fullDocument.name": "Ada", "fullDocument.seq": 0}


def test_sigkill_and_restart_store_each_event_once(tmp_path, plugin_dir, daemon, peer):
    """Killed mid-stream, the next run redelivers what was not acknowledged;
    what was already stored is found as a duplicate: the collection ends with
    every event exactly once."""
    n = 6000
    gen_changes.write_changes(str(tmp_path / "changes.jsonl"), n, size=200)
    m = manifest(tmp_path, plugin_dir, peer.uri, db_config={"batch_size": 100},
                 source={"rate": 3000, "on_eof": "stay"}, state={"path": "changecast.state",
                                                               "flush_ms": 50})
    coll = peer.client().audit.activity
    d1 = daemon(m)
    poll(lambda: coll.count_documents({}) >= n // 4, 60, "a quarter of the events stored")
    d1.signal(signal.SIGKILL)
    d1.wait()
    first = coll.count_documents({})
    assert first < n, "the kill came too late to test anything"

    d2 = daemon(m)
    poll(lambda: coll.count_documents({}) >= n, 120, "all %d events stored" % n)
    # Let anything in flight land, then compare exactly.
    poll(lambda: docs_total(d2, "inserted") + docs_total(d2, "duplicate") > 0, 30,
         "documents counted")
    assert d2.stop() == 0, d2.stderr()[-3000:]
    ids = stored_ids(peer)
    assert len(ids) == n
    assert set(ids) == {gen_changes.token(k) for k in range(n)}


def test_server_down_then_up_loses_nothing(tmp_path, plugin_dir, daemon):
    """The server is unreachable at start: the daemon starts, /healthz says
    503 with the sink down, events wait on the bus; the server comes up and
    every event is stored, and /healthz is 200 again."""
    port = free_port()
    peer = MongoPeer(tmp_path, port=port)
    uri = peer.uri
    try:
        n = 500
        gen_changes.write_changes(str(tmp_path / "changes.jsonl"), n, size=200)
        d = daemon(manifest(tmp_path, plugin_dir, uri, source={"on_eof": "stay"}))

        def sink_down():
            status, _, body = d.http_get("/healthz")
            return status == 503 and json.loads(body)["sinks"]["store"] == "down"
        poll(sink_down, 60, "/healthz 503 with sinks.store down")
        d.wait_log(r'level=error plugin=database name=store msg="connecting to audit\.activity '
                   r'at mongodb://127\.0\.0\.1:%d failed: [^"]+; retrying with backoff"' % port)
        assert d.running()

        peer.start()
        coll = peer.client().audit.activity
        poll(lambda: coll.count_documents({}) == n, 120, "all %d events stored" % n)

        def healthy():
            status, _, body = d.http_get("/healthz")
            return status == 200 and json.loads(body)["sinks"]["store"] == "ok"
        poll(healthy, 60, "/healthz 200 again")
        d.wait_log(r"writing to audit\.activity at \S+ again")
        assert d.stop() == 0
        assert set(stored_ids(peer)) == {gen_changes.token(k) for k in range(n)}
    finally:
        peer.stop()


def test_failing_writes_are_retried(tmp_path, plugin_dir, daemon, peer):
    """Inserts that fail (connection closed, a retryable server error) are
    written again with backoff; nothing is lost or doubled, and the retries
    are counted."""
    peer.fail_point({"times": 3}, {"failCommands": ["insert"], "closeConnection": True})
    n = 300
    gen_changes.write_changes(str(tmp_path / "changes.jsonl"), n, size=200)
    d = daemon(manifest(tmp_path, plugin_dir, peer.uri, db_config={"batch_size": 50},
                        source={"on_eof": "follow"}))
    coll = peer.client().audit.activity
    poll(lambda: coll.count_documents({}) == n, 120, "all %d events stored" % n)
    peer.fail_point({"times": 2}, {"failCommands": ["insert"], "errorCode": 91,
                                   "errorLabels": ["RetryableWriteError"]})
    with open(tmp_path / "changes.jsonl", "a") as f:
        for k in range(n, n + 50):
            f.write(gen_changes.event_line(k, 200) + "\n")
    poll(lambda: coll.count_documents({}) == n + 50, 120, "the 50 more events stored")
    m = metrics(d)
    assert m[("changecast_sink_events_total", 'sink="store",result="retried"')] > 0
    assert m[("changecast_sink_events_total", 'sink="store",result="failed"')] == 0
    assert d.stop() == 0
    assert set(stored_ids(peer)) == {gen_changes.token(k) for k in range(n + 50)}


def test_ttl_index_created_at_start(tmp_path, plugin_dir, daemon, peer):
    gen_changes.write_changes(str(tmp_path / "changes.jsonl"), 1)
    d = daemon(manifest(tmp_path, plugin_dir, peer.uri, db_config={"ttl_seconds": 3600},
                        source={"on_eof": "stay"}))
    d.wait_log(r"TTL index on audit\.activity\.timestamp: documents expire after 3600 s")
    coll = peer.client().audit.activity
    poll(lambda: coll.count_documents({}) == 1, 60, "the event stored")
    d.stop()
    idx = {i["name"]: i for i in coll.list_indexes()}
    assert "timestamp_ttl" in idx, idx
    assert dict(idx["timestamp_ttl"]["key"]) == {"timestamp": 1}
    assert idx["timestamp_ttl"]["expireAfterSeconds"] == 3600


@pytest.mark.parametrize("cfg,message", [
    ({"uri": "mongodb://"}, r"sinks\[0\]\.config\.uri: Invalid host string in URI"),
    ({"uri": "http://x"}, r"sinks\[0\]\.config\.uri: Invalid URI Schema"),
    ({"uri": "mongodb://127.0.0.1/?w=0"}, r"sinks\[0\]\.config\.uri: w=0 \(unacknowledged "
                                          r"writes\) cannot tell when an event is stored"),
    ({"database": None}, r'sinks\[0\]\.config: missing required key "database"'),
    ({"collection": None}, r'sinks\[0\]\.config: missing required key "collection"'),
    ({"database": "a.b"}, r"sinks\[0\]\.config\.database: must not contain /, \\\\, \., "
                          r"spaces, double quotes or \$; got a\.b"),
    ({"collection": ""}, r'sinks\[0\]\.config\.collection: must not be empty"'),
    ({"ttl_seconds": -1}, r"sinks\[0\]\.config\.ttl_seconds: "),
])
def test_bad_config_exits_2_naming_the_field(tmp_path, plugin_dir, daemon, changecast_bin, cfg,
                                              message):
    gen_changes.write_changes(str(tmp_path / "changes.jsonl"), 1)
    base = {"uri": "mongodb://127.0.0.1:1", "database": "audit", "collection": "activity"}
    for k, v in cfg.items():
        if v is None:
            base.pop(k)
        else:
            base[k] = v
    m = write_manifest(tmp_path / "m.json", plugin_dir,
                       [{"name": "replay", "plugin": "jsonl", "config": {"path": "changes.jsonl"}}],
                       [{"name": "store", "plugin": "database", "config": base}])
    d = daemon(m)
    assert d.wait(60) == 2
    assert re.search(message, d.stderr()), d.stderr()
    r = run_cli(changecast_bin, "check", "-c", str(m))   # check says so too
    assert r.returncode == 2 and re.search(message, r.stderr), r.stderr
