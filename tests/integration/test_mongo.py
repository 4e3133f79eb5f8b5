"""The mongo source against the MongoDB peer (tests/peers/mongo_peer.py),
through the real daemon into the file sink, with writes from pymongo:
the envelope of every operation type, fields and recipients (nested, array,
delete fallback, lookup and its cache), a $expr pipeline, database-wide and
shared streams, snapshot then changes with nothing missing, resume after a
restart, and config errors that exit 2 naming the field. The fault tests
(hang-up, resumable errors, SIGKILL, history lost, unreachable server) live
in the peer author's files."""

import json
import threading
import time
from pathlib import Path

import pytest
from bson import DBRef, ObjectId

from cchelpers import poll, read_envelopes, run_cli, write_manifest
from mongopeer import mongo_peer  # noqa: F401  (fixture)


def mongo_manifest(tmp_path, plugin_dir, peer, config, name="m.json", out="out.jsonl",
                   **extra):
    cfg = {"uri": peer.uri, "database": "test", "max_await_ms": 100}
    cfg.update(config)
    return write_manifest(tmp_path / name, plugin_dir,
                          [{"name": "app", "plugin": "mongo", "config": cfg}],
                          [{"name": "out", "plugin": "file", "config": {"path": out}}],
                          **extra)


def start_connected(daemon, manifest):
    """Starts the daemon and waits until /healthz says every source is
    connected (the change streams are open: later writes are seen)."""
    d = daemon(manifest)
    poll(lambda: d.http_get("/healthz")[0] == 200, 30, "source connected")
    return d


def wait_events(path, n, seconds=30):
    """Waits until `path` holds at least n envelopes; returns them."""
    def enough():
        if not Path(path).exists():
            return None
        envs = read_envelopes(path)
        return envs if len(envs) >= n else None
    return poll(enough, seconds, "%d events in %s" % (n, path))


def without_volatile(env):
    """The envelope minus the parts that depend on the clock."""
    e = dict(env)
    for k in ("timestamp", "cluster_time", "id"):
        e.pop(k, None)
    return e


def test_envelope_of_every_operation_type(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    db.create_collection("users")
    db.command("collMod", "users", changeStreamPreAndPostImages={"enabled": True})
    db.create_collection("plain")
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"collection": "users",
                   "operations": ["insert", "update", "replace", "delete", "drop"]},
                  {"collection": "plain", "pipeline": [{"$match": {"ns.coll": "plain"}}]}],
        "full_document_before_change": "whenAvailable"})
    d = start_connected(daemon, m)

    db.users.insert_one({"_id": "u1", "name": "Ada", "tags": ["x"]})
    db.users.update_one({"_id": "u1"}, {"$set": {"name": "Grace"}, "$unset": {"tags": ""}})
    # updateLookup reads the document when the event is read: let it exist.
    wait_events(tmp_path / "out.jsonl", 2)
    db.users.replace_one({"_id": "u1"}, {"_id": "u1", "name": "Lin"})
    db.users.delete_one({"_id": "u1"})
    db.plain.insert_one({"_id": 7, "v": 1.5})
    db.plain.delete_one({"_id": 7})                      # no pre-images here: data {}
    envs = wait_events(tmp_path / "out.jsonl", 6)
    by = {(e["collection"], e["operation"]): e for e in envs}

    ins = by[("users", "insert")]
    assert without_volatile(ins) == {
        "operation": "insert", "collection": "users", "document_id": "u1",
        "data": {"_id": "u1", "name": "Ada", "tags": ["x"]}, "namespace": "test",
        "recipient": None}
    assert ins["id"] and ":" not in ins["id"]            # the resume token's _data
    assert set(ins["cluster_time"]) == {"t", "i"}
    assert ins["timestamp"] == float(ins["cluster_time"]["t"])

    upd = by[("users", "update")]
    assert upd["update"] == {"updated": {"name": "Grace"}, "removed": ["tags"]}
    assert upd["data"] == {"_id": "u1", "name": "Grace"}   # updateLookup (the default)
    assert by[("users", "replace")]["data"] == {"_id": "u1", "name": "Lin"}
    assert by[("users", "delete")]["data"] == {"_id": "u1", "name": "Lin"}   # pre-image
    assert by[("plain", "insert")]["document_id"] == "7"
    assert by[("plain", "delete")]["data"] == {}
    assert len({e["id"] for e in envs}) == len(envs)

    # Dropping the collection: "drop", then "invalidate", then the stream
    # restarts after it and sees the collection created again.
    db.users.drop()
    envs = wait_events(tmp_path / "out.jsonl", 8)
    assert [(e["operation"], e["collection"]) for e in envs[-2:]] == [
        ("drop", "users"), ("invalidate", "users")]
    d.wait_log(r"invalidated .*reopening")
    db.users.insert_one({"_id": "u2"})
    envs = wait_events(tmp_path / "out.jsonl", 9)
    assert (envs[-1]["operation"], envs[-1]["document_id"]) == ("insert", "u2")
    assert d.stop() == 0


def test_fields_and_recipients(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    db.create_collection("users")
    db.command("collMod", "users", changeStreamPreAndPostImages={"enabled": True})
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"collection": "users", "fields": ["fullDocument.name", "documentKey._id"],
                   "recipient": "fullDocument.owner.id"},
                  {"collection": "teams", "recipient": "fullDocument.members"}],
        "full_document_before_change": "whenAvailable"})
    d = start_connected(daemon, m)
    db.users.insert_one({"_id": "u1", "name": "Ada", "owner": {"id": "alice"}})
    db.teams.insert_one({"_id": "t1", "members": ["bob", "carol"]})
    db.users.delete_one({"_id": "u1"})     # recipient from the pre-image
    envs = wait_events(tmp_path / "out.jsonl", 4)
    users = [e for e in envs if e["collection"] == "users"]
    assert [(e["operation"], e["recipient"]) for e in users] == [("insert", "alice"),
                                                                  ("delete", "alice")]
    assert users[0]["data"] == {"fullDocument.name": "Ada", "documentKey._id": "u1"}
    assert users[1]["data"] == {"fullDocument.name": "Ada", "documentKey._id": "u1"}
    teams = [e for e in envs if e["collection"] == "teams"]
    assert sorted(e["recipient"] for e in teams) == ["bob", "carol"]
    token = teams[0]["id"].split(":")[0]
    assert sorted(e["id"] for e in teams) == [token + ":bob", token + ":carol"]
    assert d.stop() == 0


def test_recipient_lookup_and_cache_expiry(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    biz = ObjectId()
    db.businesses.insert_one({"_id": biz, "owner": DBRef("users", ObjectId("6500000000000000000000a1"))})
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"collection": "inventory_items",
                   "recipient_lookup": {"collection": "businesses", "local": "fullDocument.owned_by",
                                        "foreign": "_id", "field": "owner.$id",
                                        "cache_ms": 1500}}]})
    d = start_connected(daemon, m)
    db.inventory_items.insert_one({"_id": 1, "owned_by": biz})
    wait_events(tmp_path / "out.jsonl", 1)
    # A new owner: the cached answer holds until cache_ms has passed.
    # (replace_one: the peer ignores a $set whose value is a DBRef)
    db.businesses.replace_one({"_id": biz}, {"owner": DBRef("users", ObjectId("6500000000000000000000b2"))})
    db.inventory_items.insert_one({"_id": 2, "owned_by": biz})
    envs = wait_events(tmp_path / "out.jsonl", 2)
    assert [e["recipient"] for e in envs] == ["6500000000000000000000a1"] * 2

    def fresh():
        db.inventory_items.update_one({"_id": 2}, {"$inc": {"n": 1}})
        envs = read_envelopes(tmp_path / "out.jsonl")
        return envs[-1]["recipient"] == "6500000000000000000000b2"
    poll(fresh, 20, "the lookup cache to expire", interval=0.3)

    # No business: a broadcast (recipient null); sinks that must not
    # broadcast filter with where.recipient_present.
    db.inventory_items.insert_one({"_id": 3, "owned_by": ObjectId()})
    # (updates from the loop above may still arrive first)
    env = poll(lambda: next((e for e in read_envelopes(tmp_path / "out.jsonl")
                             if e["document_id"] == "3"), None), 20, "the insert of 3")
    assert env["recipient"] is None
    assert d.stop() == 0


def test_expr_pipeline_stock_at_or_below_reorder_point(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"collection": "inventory_items", "operations": ["insert", "update"],
                   "pipeline": [{"$match": {"$expr": {"$lte": [
                       "$fullDocument.quantity_in_stock", "$fullDocument.reorder_point"]}}}],
                   "fields": ["fullDocument.name", "fullDocument.quantity_in_stock",
                              "fullDocument.reorder_point"]}]})
    d = start_connected(daemon, m)
    db.inventory_items.insert_one({"_id": 1, "name": "bolts", "quantity_in_stock": 50,
                                   "reorder_point": 10})
    db.inventory_items.insert_one({"_id": 2, "name": "nuts", "quantity_in_stock": 5,
                                   "reorder_point": 10})
    db.inventory_items.update_one({"_id": 1}, {"$set": {"quantity_in_stock": 10}})
    # updateLookup reads the document when the event is read (as MongoDB
    # does): the next update waits until this one went through.
    envs = wait_events(tmp_path / "out.jsonl", 2)
    db.inventory_items.update_one({"_id": 1}, {"$set": {"quantity_in_stock": 11}})
    assert [(e["operation"], e["document_id"]) for e in envs] == [("insert", "2"),
                                                                  ("update", "1")]
    assert envs[1]["data"] == {"fullDocument.name": "bolts",
                               "fullDocument.quantity_in_stock": 10,
                               "fullDocument.reorder_point": 10}
    # The last update (11 > 10) must not follow: a marker write shows the
    # stream got past it.
    db.inventory_items.insert_one({"_id": 3, "name": "marker", "quantity_in_stock": 0,
                                   "reorder_point": 0})
    envs = wait_events(tmp_path / "out.jsonl", 3)
    assert [e["document_id"] for e in envs] == ["2", "1", "3"]
    assert d.stop() == 0


def test_database_wide_watch(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {"watch": [{"collection": "*"}]})
    d = start_connected(daemon, m)
    db.a.insert_one({"_id": 1})
    db.b.insert_one({"_id": 2})
    mongo_peer.client().other.c.insert_one({"_id": 3})   # another database: not seen
    db.c.insert_one({"_id": 4})
    envs = wait_events(tmp_path / "out.jsonl", 3)
    assert [(e["collection"], e["document_id"]) for e in envs] == [("a", "1"), ("b", "2"),
                                                                   ("c", "4")]
    assert d.stop() == 0


def test_two_collections_share_one_stream(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"collection": "users", "recipient": "fullDocument.uid"},
                  {"collection": "orders", "recipient": "fullDocument.buyer",
                   "operations": ["insert"]}]})
    d = start_connected(daemon, m)
    db.users.insert_one({"_id": 1, "uid": "ann"})
    db.orders.insert_one({"_id": 2, "buyer": "ben"})
    db.orders.update_one({"_id": 2}, {"$set": {"x": 1}})    # not an operation of orders'
    db.others.insert_one({"_id": 3})                         # not watched
    db.users.update_one({"_id": 1}, {"$set": {"x": 1}})
    db.users.insert_one({"_id": 9, "uid": "marker"})   # one stream: what came before is in
    envs = wait_events(tmp_path / "out.jsonl", 4)
    assert [(e["collection"], e["operation"], e["recipient"]) for e in envs] == [
        ("users", "insert", "ann"), ("orders", "insert", "ben"), ("users", "update", "ann"),
        ("users", "insert", "marker")]
    assert d.stop() == 0
    # One stream for both: the position holds one token, keyed by both names.
    state = json.loads((tmp_path / "changecast.state").read_text())
    pos = json.loads(state["sources"]["app"]["position"])
    assert list(pos) == ["test/orders,users"]
    assert pos["test/orders,users"] == {"_data": envs[-1]["id"]}


def test_snapshot_then_changes_with_nothing_missing(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    db.items.insert_many([{"_id": i, "v": 0} for i in range(300)])
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"collection": "items", "snapshot": True}]})
    stop = threading.Event()
    written = []

    def writer():
        i = 1000
        while not stop.is_set():
            db.items.insert_one({"_id": i, "v": 1})
            written.append(i)
            i += 1
            time.sleep(0.002)
    t = threading.Thread(target=writer)
    t.start()
    try:
        d = daemon(m)
        poll(lambda: d.http_get("/healthz")[0] == 200, 30, "source connected")
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    last = written[-1]
    envs = wait_events(tmp_path / "out.jsonl", 300)

    def all_seen():
        envs = read_envelopes(tmp_path / "out.jsonl")
        return envs if any(e["document_id"] == str(last) and e["operation"] == "insert"
                           for e in envs) else None
    envs = poll(all_seen, 30, "the last concurrent insert")
    snap = [e for e in envs if e["operation"] == "snapshot"]
    assert {int(e["document_id"]) for e in snap} >= set(range(300))
    assert all(e["id"] == "snapshot:" + e["document_id"] for e in snap)
    assert snap[0]["data"] == {"_id": 0, "v": 0}
    # Every write during the snapshot is in the snapshot or the stream.
    seen = {int(e["document_id"]) for e in envs}
    assert set(written) <= seen
    assert d.stop() == 0

    # A restart with a saved position skips the snapshot and resumes.
    db.items.insert_one({"_id": "after"})
    d = daemon(m)
    envs2 = wait_events(tmp_path / "out.jsonl", len(envs) + 1)
    assert envs2[len(envs):][0]["document_id"] == "after"
    assert not [e for e in envs2[len(envs):] if e["operation"] == "snapshot"]
    assert d.stop() == 0


def test_restart_resumes_from_the_saved_token(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {"watch": [{"collection": "users"}]})
    d = start_connected(daemon, m)
    db.users.insert_one({"_id": 1})
    wait_events(tmp_path / "out.jsonl", 1)
    assert d.stop() == 0
    db.users.insert_one({"_id": 2})          # while changecast is down
    db.users.insert_one({"_id": 3})
    d = daemon(m)
    envs = wait_events(tmp_path / "out.jsonl", 3)
    assert [e["document_id"] for e in envs] == ["1", "2", "3"]
    d.wait_log(r"resumes after the saved token")
    assert d.stop() == 0


@pytest.mark.parametrize("config, place", [
    ({"uri": "mongodb://127.0.0.1:notaport/?replicaSet=rs0"}, "sources[0].config.uri: "),
    ({"uri": "http://nope"}, "sources[0].config.uri: "),
    ({"watch": [{"database": "test"}]}, "sources[0].config.watch[0]"),
    ({"watch": [{"collection": "users", "operations": ["insert", "upsert"]}]},
     "sources[0].config.watch[0].operations"),
    ({"watch": [{"collection": "users", "pipeline": {"$match": {}}}]},
     "sources[0].config.watch[0].pipeline: "),
    ({"watch": [{"collection": "users"}], "database": None}, "sources[0].config.watch[0].database"),
    ({"watch": [{"collection": "*", "snapshot": True}]}, "sources[0].config.watch[0].snapshot"),
    ({"watch": [{"collection": "x", "recipient_lookup": {"collection": "b", "local": "a"}}]},
     "sources[0].config.watch[0].recipient_lookup"),
    ({"full_document": "always"}, "sources[0].config.full_document"),
])
def test_bad_config_exits_2_naming_the_field(tmp_path, plugin_dir, daemon, changecast_bin,
                                              config, place):
    cfg = {"uri": "mongodb://127.0.0.1:1/?replicaSet=rs0", "database": "test",
           "watch": [{"collection": "users"}]}
    cfg.update(config)
    if cfg.get("database") is None:
        cfg.pop("database")
    m = write_manifest(tmp_path / "m.json", plugin_dir,
                       [{"name": "app", "plugin": "mongo", "config": cfg}],
                       [{"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}}])
    d = daemon(m)
    assert d.wait(60) == 2
    assert place in d.stderr(), d.stderr()
    # `changecast check` says so too, without starting anything.
    r = run_cli(changecast_bin, "check", "-c", str(m))
    assert r.returncode == 2 and place in r.stderr, r.stderr


def test_cluster_wide_watch(tmp_path, plugin_dir, daemon, mongo_peer):
    client = mongo_peer.client()
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"database": "*", "collection": "*", "recipient": "fullDocument.to"}]})
    d = start_connected(daemon, m)
    client.one.a.insert_one({"_id": 1, "to": "x"})
    client.two.b.insert_one({"_id": 2, "to": "y"})
    envs = wait_events(tmp_path / "out.jsonl", 2)
    assert [(e["namespace"], e["collection"], e["recipient"]) for e in envs] == [
        ("one", "a", "x"), ("two", "b", "y")]
    assert d.stop() == 0
    pos = json.loads(json.loads((tmp_path / "changecast.state").read_text())
                     ["sources"]["app"]["position"])
    assert list(pos) == ["*/*"]


def test_two_streams_resume_each_from_its_own_token(tmp_path, plugin_dir, daemon, mongo_peer):
    db = mongo_peer.client().test
    m = mongo_manifest(tmp_path, plugin_dir, mongo_peer, {
        "watch": [{"collection": "users"},
                  {"collection": "stock", "pipeline": [{"$match": {"fullDocument.low": True}}]}]})
    d = start_connected(daemon, m)
    db.users.insert_one({"_id": 1})
    db.stock.insert_one({"_id": 2, "low": True})
    db.stock.insert_one({"_id": 3, "low": False})
    wait_events(tmp_path / "out.jsonl", 2)
    assert d.stop() == 0
    state = json.loads((tmp_path / "changecast.state").read_text())
    pos = json.loads(state["sources"]["app"]["position"])
    assert sorted(pos) == ["test/stock|watch[1]", "test/users"]

    # While changecast is down, both streams get changes: each resumes
    # after its own token, nothing lost, nothing twice.
    db.stock.insert_one({"_id": 4, "low": True})
    db.users.insert_one({"_id": 5})
    d = daemon(m)
    wait_events(tmp_path / "out.jsonl", 4)
    # Markers on both streams: once both are in, any repeat would be too.
    db.users.insert_one({"_id": 6})
    db.stock.insert_one({"_id": 7, "low": True})
    envs = wait_events(tmp_path / "out.jsonl", 6)
    assert sorted(int(e["document_id"]) for e in envs) == [1, 2, 4, 5, 6, 7]
    assert d.stop() == 0
