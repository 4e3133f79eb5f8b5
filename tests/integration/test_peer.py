"""Real drivers against the MongoDB peer (tests/peers/mongo_peer.py): what
the mongo source's tests rely on it for. pymongo for writes, reads, change
streams with resume, pre/post images, invalidate, the peer's fault injection
and history loss; the Node driver (tests/node/peer_client.js) for a second
client's view."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess

import pymongo
import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, OperationFailure

from cchelpers import SOURCE_ROOT, poll, timeout
from mongopeer import MongoPeer, mongo_peer  # noqa: F401  (fixture)


def raw_stream(db, coll, spec, pipeline=()):
    """A change stream by hand (pymongo 3.11's watch() predates some options):
    returns (cursor id, firstBatch)."""
    r = db.command("aggregate", coll, pipeline=[{"$changeStream": spec}] + list(pipeline),
                   cursor={})
    return r["cursor"]["id"], r["cursor"]["firstBatch"]


def get_more(db, coll, cid, wait_ms=200):
    r = db.command("getMore", cid, collection=coll, maxTimeMS=wait_ms)
    return r["cursor"]


def drain(stream, n):
    """The next n events of a pymongo ChangeStream (each next() waits up to
    the stream's maxAwaitTimeMS, bounded overall)."""
    out = []
    poll(lambda: (out.append(stream.next()) if len(out) < n else None) or len(out) >= n,
         10, "%d change events (got %d)" % (n, len(out)), interval=0)
    return out


def test_crud(mongo_peer):
    c = mongo_peer.client().shop.items
    c.insert_many([{"_id": i, "qty": i, "tags": ["a"]} for i in range(5)])
    with pytest.raises(BulkWriteError) as e:
        c.insert_many([{"_id": 10}, {"_id": 1}, {"_id": 11}], ordered=False)
    errs = e.value.details["writeErrors"]
    assert [(w["index"], w["code"]) for w in errs] == [(1, 11000)]
    assert e.value.details["nInserted"] == 2

    r = c.update_many({"qty": {"$gte": 3}}, {"$set": {"big": True, "sub.x": 1},
                                             "$inc": {"qty": 100}, "$push": {"tags": "b"}})
    assert (r.matched_count, r.modified_count) == (2, 2)
    assert c.find_one({"_id": 4}) == {"_id": 4, "qty": 104, "tags": ["a", "b"], "big": True,
                                      "sub": {"x": 1}}
    r = c.update_one({"_id": 4}, {"$set": {"qty": 104}})      # changes nothing
    assert (r.matched_count, r.modified_count) == (1, 0)
    r = c.update_one({"_id": 99, "kind": "new"}, {"$set": {"qty": 1}}, upsert=True)
    assert r.upserted_id == 99
    assert c.find_one({"_id": 99}) == {"_id": 99, "kind": "new", "qty": 1}
    c.update_one({"_id": 4}, {"$unset": {"sub": ""}})
    c.replace_one({"_id": 0}, {"name": "zero"})
    assert c.find_one({"_id": 0}) == {"_id": 0, "name": "zero"}

    assert [d["_id"] for d in c.find({"qty": {"$lt": 100}}).sort("qty", -1).skip(1).limit(2)] \
        == [1, 99]
    assert [d["_id"] for d in c.find({"tags": "b"})] == [3, 4]
    assert [d["_id"] for d in c.find({"_id": {"$in": [1, 3, 77]}})] == [1, 3]
    assert [d["_id"] for d in c.find({"big": {"$exists": False}, "name": {"$exists": True}})] \
        == [0]
    assert c.count_documents({"qty": {"$gte": 100}}) == 2
    assert c.delete_many({"qty": {"$gte": 100}}).deleted_count == 2
    assert c.delete_one({}).deleted_count == 1
    assert c.count_documents({}) == 5
    assert list(c.find({}, {"qty": 1, "_id": 0}).sort("_id", 1).limit(1)) == [{"qty": 1}]


def test_watch_resume_and_start_points(mongo_peer):
    db = mongo_peer.client().shop
    with db.items.watch(max_await_time_ms=100) as cs:
        db.items.insert_many([{"_id": i} for i in range(3)])
        db.other.insert_one({"_id": "not seen"})
        db.items.update_one({"_id": 1}, {"$set": {"x": 1}})
        db.items.delete_one({"_id": 2})
        evs = drain(cs, 5)
    assert [(e["operationType"], e["documentKey"]["_id"]) for e in evs] == \
        [("insert", 0), ("insert", 1), ("insert", 2), ("update", 1), ("delete", 2)]
    assert evs[3]["updateDescription"] == {"updatedFields": {"x": 1}, "removedFields": [],
                                           "truncatedArrays": []}
    tokens = [e["_id"]["_data"] for e in evs]
    assert tokens == sorted(tokens) and len(set(tokens)) == 5
    assert all(e["ns"] == {"db": "shop", "coll": "items"} for e in evs)

    # resumeAfter: the events after the token, nothing before it.
    with db.items.watch(resume_after=evs[2]["_id"], max_await_time_ms=100) as cs:
        assert [e["_id"] for e in drain(cs, 2)] == [evs[3]["_id"], evs[4]["_id"]]
    # startAtOperationTime: from that event on.
    with db.items.watch(start_at_operation_time=evs[3]["clusterTime"],
                        max_await_time_ms=100) as cs:
        assert drain(cs, 1)[0]["_id"] == evs[3]["_id"]
    # Database and cluster streams see the other collection too.
    with mongo_peer.client().watch(start_at_operation_time=evs[0]["clusterTime"],
                                   max_await_time_ms=100) as cs:
        got = drain(cs, 4)
    assert got[3]["ns"] == {"db": "shop", "coll": "other"}
    # peerLoad: a burst of inserts for benchmarks, in the stream's order.
    with db.bulk.watch(max_await_time_ms=100) as cs:
        assert mongo_peer.load("shop.bulk", 500, 10)["n"] == 500
        bulk = drain(cs, 500)
    assert [e["fullDocument"] for e in bulk[-2:]] == [{"_id": 498, "pad": "x" * 10},
                                                      {"_id": 499, "pad": "x" * 10}]
    assert db.bulk.count_documents({}) == 500
    # A token this peer never issued, and one from before the kept history.
    bogus = {"_data": "82" + "7" * 8 + "0" * 8 + "F" * 16 + "00"}
    with pytest.raises(OperationFailure) as e:
        db.items.watch(resume_after=bogus)
    assert e.value.code == 286
    # The oplog as the mongo source reads it for its history headroom.
    oplog = mongo_peer.client().local["oplog.rs"]
    first = oplog.find({}, {"ts": 1}).sort("$natural", 1).limit(1)[0]
    assert first["ts"] <= evs[0]["clusterTime"]      # the create came first
    mongo_peer.truncate_history()
    assert list(oplog.find())[0]["op"] == "n"
    with pytest.raises(OperationFailure) as e:
        db.items.watch(resume_after=evs[4]["_id"])
    assert e.value.code == 286 and "ChangeStreamHistoryLost" in str(e.value.details)


def test_pipeline_filters(mongo_peer):
    db = mongo_peer.client().shop
    pipeline = [{"$match": {"operationType": {"$in": ["insert", "update"]},
                            "$expr": {"$lte": ["$fullDocument.stock",
                                               "$fullDocument.reorder_point"]}}},
                {"$addFields": {"low": True}}, {"$project": {"updateDescription": 0}}]
    with db.stock.watch(pipeline, full_document="updateLookup", max_await_time_ms=100) as cs:
        db.stock.insert_one({"_id": "a", "stock": 10, "reorder_point": 5})
        db.stock.insert_one({"_id": "b", "stock": 2, "reorder_point": 5})
        db.stock.update_one({"_id": "a"}, {"$set": {"stock": 4}})
        db.stock.delete_one({"_id": "b"})
        evs = drain(cs, 2)
    assert [(e["operationType"], e["documentKey"]["_id"], e["low"]) for e in evs] == \
        [("insert", "b", True), ("update", "a", True)]
    assert "updateDescription" not in evs[1]
    assert evs[1]["fullDocument"] == {"_id": "a", "stock": 4, "reorder_point": 5}


def test_pre_and_post_images(mongo_peer):
    db = mongo_peer.client().shop
    db.create_collection("plain")
    db.plain.insert_one({"_id": 1, "v": 1})
    spec = {"fullDocument": "whenAvailable", "fullDocumentBeforeChange": "whenAvailable"}
    cid, _ = raw_stream(db, "plain", spec)
    db.plain.update_one({"_id": 1}, {"$set": {"v": 2}})
    ev = poll(lambda: get_more(db, "plain", cid)["nextBatch"], 5, "the update")[0]
    assert ev["fullDocument"] is None and ev["fullDocumentBeforeChange"] is None

    # "required" without pre-images recorded: a clear error on that event.
    cid, _ = raw_stream(db, "plain", {"fullDocumentBeforeChange": "required"})
    db.plain.delete_one({"_id": 1})
    with pytest.raises(OperationFailure) as e:
        poll(lambda: get_more(db, "plain", cid)["nextBatch"], 5, "the error")
    assert e.value.code == 47 and "pre-image" in str(e.value)

    db.command("collMod", "plain", changeStreamPreAndPostImages={"enabled": True})
    db.plain.insert_one({"_id": 2, "v": 1})
    cid, _ = raw_stream(db, "plain", {"fullDocument": "required",
                                      "fullDocumentBeforeChange": "required"})
    db.plain.update_one({"_id": 2}, {"$inc": {"v": 1}})
    db.plain.delete_one({"_id": 2})
    evs = []
    poll(lambda: evs.extend(get_more(db, "plain", cid)["nextBatch"]) or len(evs) >= 2, 5,
         "update and delete")
    assert (evs[0]["fullDocumentBeforeChange"], evs[0]["fullDocument"]) == \
        ({"_id": 2, "v": 1}, {"_id": 2, "v": 2})
    assert evs[1]["fullDocumentBeforeChange"] == {"_id": 2, "v": 2}


def test_invalidate_and_start_after(mongo_peer):
    client = mongo_peer.client()
    db = client.shop
    db.gone.insert_one({"_id": 1})
    cs = db.gone.watch(max_await_time_ms=100)
    db.gone.drop()
    evs = drain(cs, 2)
    assert [e["operationType"] for e in evs] == ["drop", "invalidate"]
    poll(lambda: not cs.alive or cs.try_next() is None and not cs.alive, 5, "the closed cursor")
    cs.close()
    # resumeAfter an invalidate is refused; startAfter picks up after it.
    with pytest.raises(OperationFailure) as e:
        db.gone.watch(resume_after=evs[1]["_id"])
    assert e.value.code == 260
    with db.gone.watch(start_after=evs[1]["_id"], max_await_time_ms=100) as cs:
        db.gone.insert_one({"_id": 2})
        assert drain(cs, 1)[0]["documentKey"] == {"_id": 2}
    # A user $match runs on the invalidate too (as in mongod): filtered out,
    # the cursor still closes, its postBatchResumeToken the invalidate's.
    cid, _ = raw_stream(db, "gone", {}, [{"$match": {"operationType": "insert"}}])
    db.gone.drop()
    cur = poll(lambda: (lambda c: c if c["id"] == 0 else None)(get_more(db, "gone", cid)), 5,
               "the cursor to close")
    assert cur["nextBatch"] == [] and cur["postBatchResumeToken"]["_data"].endswith("01")
    db.gone.insert_one({"_id": 3})
    # Rename invalidates the source's stream; dropDatabase a database stream.
    with db.gone.watch(max_await_time_ms=100) as cs:
        client.admin.command("renameCollection", "shop.gone", to="shop.moved")
        ev = drain(cs, 2)
    assert (ev[0]["operationType"], ev[0]["to"], ev[1]["operationType"]) == \
        ("rename", {"db": "shop", "coll": "moved"}, "invalidate")
    with db.watch(max_await_time_ms=100) as cs:
        client.drop_database("shop")
        ev = drain(cs, 3)
    assert [e["operationType"] for e in ev] == ["drop", "dropDatabase", "invalidate"]


def test_faults_seen_by_the_driver(mongo_peer):
    db = mongo_peer.client().shop
    db.items.insert_one({"_id": 0})
    # Hang-up on find, twice: pymongo retries a read once, then reports it.
    mongo_peer.fail_point({"times": 2}, {"failCommands": ["find"], "closeConnection": True})
    with pytest.raises(AutoReconnect):
        db.items.find_one()
    assert db.items.find_one() == {"_id": 0}
    # An error code with labels, as mongod sends it.
    mongo_peer.fail_point({"times": 1}, {"failCommands": ["insert"], "errorCode": 2,
                                         "errorLabels": ["Mine"]})
    with pytest.raises(OperationFailure) as e:
        db.items.insert_one({"_id": 1})
    assert e.value.code == 2 and e.value.has_error_label("Mine")

    # Mid-stream hang-up and resumable error: the stream resumes, nothing lost,
    # nothing twice.
    with db.items.watch(max_await_time_ms=100) as cs:
        db.items.insert_one({"_id": 1})
        assert drain(cs, 1)[0]["documentKey"] == {"_id": 1}
        mongo_peer.fail_point({"times": 1}, {"failCommands": ["getMore"],
                                             "closeConnection": True})
        db.items.insert_one({"_id": 2})
        assert drain(cs, 1)[0]["documentKey"] == {"_id": 2}
        mongo_peer.fail_point({"times": 1}, {"failCommands": ["getMore"], "errorCode": 6,
                                             "errorLabels": ["ResumableChangeStreamError"]})
        db.items.insert_many([{"_id": 3}, {"_id": 4}])
        assert [e["documentKey"]["_id"] for e in drain(cs, 2)] == [3, 4]
        # Without the label (wire version >= 9) the error is the driver's to see.
        mongo_peer.fail_point({"times": 1}, {"failCommands": ["getMore"], "errorCode": 6})
        with pytest.raises(OperationFailure) as e:
            drain(cs, 1)
        assert e.value.code == 6

    # Stall: a blocked getMore outlasts the client's socket timeout.
    quick = pymongo.MongoClient(mongo_peer.uri, socketTimeoutMS=300, retryReads=False)
    try:
        quick.admin.command("ping")
        mongo_peer.fail_point({"times": 1}, {"failCommands": ["find"], "blockConnection": True,
                                             "blockTimeMS": 1500})
        with pytest.raises(AutoReconnect):
            quick.shop.items.find_one()
    finally:
        quick.close()
    mongo_peer.fail_point("off", {})
    assert mongo_peer.command("configureFailPoint", "failCommand", mode="off")["ok"] == 1.0


def test_bounded_history_and_bad_input(tmp_path):
    peer = MongoPeer(tmp_path, history=3)
    peer.start()
    try:
        db = peer.client().shop
        with db.items.watch(max_await_time_ms=100) as cs:
            db.items.insert_one({"_id": 0})
            first = drain(cs, 1)[0]["_id"]
        db.items.insert_many([{"_id": i} for i in range(1, 4)])
        with pytest.raises(OperationFailure) as e:
            db.items.watch(resume_after=first)
        assert e.value.code == 286
        # Unknown commands, and bytes that are no MongoDB message.
        with pytest.raises(OperationFailure) as e:
            db.command("noSuchCommand")
        assert e.value.code == 59 and e.value.details["codeName"] == "CommandNotFound"
        bad_bson = struct.pack("<I", 0) + b"\0" + struct.pack("<i", 99) + b"\x02x\0"
        for msg in (struct.pack("<iiii", 20, 1, 0, 9999) + b"junk",       # unknown opcode
                    struct.pack("<iiii", 16 + len(bad_bson), 2, 0, 2013) + bad_bson):
            with socket.create_connection(("127.0.0.1", peer.port)) as s:
                s.sendall(msg)
                s.settimeout(timeout(5))
                assert s.recv(16) == b""    # the peer hangs up on that connection only
        assert peer.command("ping")["ok"] == 1.0
        # A stream that falls behind the kept window fails the same way.
        with db.bulk.watch(max_await_time_ms=100) as cs:
            assert peer.load("shop.bulk", 5, 10)["n"] == 5
            with pytest.raises(OperationFailure) as e:
                drain(cs, 5)
            assert e.value.code == 286
    finally:
        peer.stop()
    # SIGTERM stops it cleanly.
    assert peer.proc is None


def test_cli_port_and_sigterm(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(["/usr/bin/python3", str(SOURCE_ROOT / "tests/peers/mongo_peer.py"),
                             "--port", "0", "--port-file", str(port_file), "--set-name", "rsX"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == port_file.read_text().strip()
        port = int(line)
        c = pymongo.MongoClient("mongodb://127.0.0.1:%d/?replicaSet=rsX" % port,
                                serverSelectionTimeoutMS=int(timeout(10) * 1000))
        hello = c.admin.command("hello")
        assert (hello["setName"], hello["hosts"], hello["maxWireVersion"]) == \
            ("rsX", ["127.0.0.1:%d" % port], 17)
        assert "topologyVersion" not in hello
        assert c.server_info()["version"] == "6.0.0"
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=timeout(10))
    assert proc.returncode == 0, err
    assert "stopped" in err


def _node_has_mongodb():
    """True when node resolves the `mongodb` package from tests/node
    (its node_modules, which scripts/test.sh fills with `npm ci`, or
    $NODE_PATH)."""
    if shutil.which("node") is None:
        return False
    r = subprocess.run(["node", "-e", "require.resolve('mongodb')"],
                       cwd=str(SOURCE_ROOT / "tests" / "node"), capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _node_has_mongodb(),
                    reason="node or its mongodb package is missing: run `npm ci` in tests/node")
def test_node_driver(mongo_peer):
    script = SOURCE_ROOT / "tests" / "node" / "peer_client.js"
    r = subprocess.run(["node", str(script), mongo_peer.uri], capture_output=True, text=True,
                       timeout=timeout(60), env=dict(os.environ))
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert lines[0]["found"] == [{"_id": 3, "n": 3}, {"_id": 1, "n": 10, "hits": 1},
                                 {"_id": 2, "n": 20}]
    assert [(x["event"]["op"], x["event"]["key"]) for x in lines[1:7]] == \
        [("insert", 1), ("insert", 2), ("insert", 3), ("update", 1), ("replace", 2),
         ("delete", 3)]
    assert lines[4]["event"]["doc"] == {"_id": 1, "n": 10, "hits": 1}
    assert lines[-1] == {"done": True}
    # What the Node driver wrote, pymongo reads.
    assert mongo_peer.client().nodetest.items.count_documents({}) == 2


