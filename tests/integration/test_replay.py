"""jsonl source -> file sink: completeness, order, envelope fields, bad lines,
and the resume position after a clean finish."""

import json
import re
import time

import pytest

from cchelpers import (count_lines, line_ends, read_envelopes, read_state, replay_manifest,
                       write_manifest)

MILLION = 1_000_000


def test_million_events_complete_and_in_order(tmp_path, plugin_dir, daemon, gen):
    """1,000,000 generated events all arrive, once each, in source order, with
    unique ids, and the run exits 0 by itself (on_eof finish)."""
    changes = tmp_path / "changes.jsonl"
    out = tmp_path / "out.jsonl"
    try:
        size = gen.write_changes(str(changes), MILLION)
        m = replay_manifest(tmp_path, plugin_dir, log={"level": "warn"})
        d = daemon(m)
        assert d.wait(seconds=600) == 0, d.stderr()[-4000:]
        assert "level=error" not in d.stderr(), d.stderr()[-4000:]

        # Stream the output: a million parsed envelopes would neither fit in
        # memory nor parse quickly in Python. Every line is checked with a
        # regex for its seq, recipient and id; every 997th is parsed whole.
        rx = re.compile(rb'^\{"operation":"(\w+)".*"seq":(\d+),.*'
                        rb'"recipient":"([^"]*)","id":"([^"]+)"')
        n = 0
        ids = set()
        with open(out, "rb") as f:
            for lineno, line in enumerate(f, 1):
                m = rx.match(line)
                assert m and line.endswith(b"}\n"), "line %d: %r" % (lineno, line[:300])
                seq = int(m.group(2))
                assert seq == n, ("line %d: seq %d where %d was expected (missing, duplicated "
                                  "or out of order)" % (lineno, seq, n))
                assert m.group(4) == gen.token(seq).encode(), "line %d: id %r" % (
                    lineno, m.group(4))
                assert m.group(1) == gen.op(seq).encode()
                assert m.group(3) == gen.owner(seq).encode()
                ids.add(m.group(4))
                if seq % 997 == 0:
                    env = json.loads(line)
                    src = gen.event(seq)
                    assert env["data"] == src.get("fullDocument",
                                                  src.get("fullDocumentBeforeChange"))
                    assert env["document_id"] == src["documentKey"]["_id"]
                    assert env["cluster_time"] == src["clusterTime"]["$timestamp"]
                    assert env["namespace"] == "test" and env["collection"] == "users"
                n += 1
        assert n == MILLION
        assert len(ids) == MILLION
        # Clean finish: the saved position is the end of the input.
        assert read_state(tmp_path / "changecast.state") == size
    finally:
        for p in (changes, out):
            if p.exists():
                p.unlink()


# Hand-written events covering each operation, each _id type and the
# recipient rules, with the envelopes the SPEC says they become.
KNOWN = [
    ('{"_id":{"_data":"82AA01"},"operationType":"insert",'
     '"clusterTime":{"$timestamp":{"t":1745257727,"i":1}},"ns":{"db":"test","coll":"users"},'
     '"documentKey":{"_id":{"$oid":"680684ff0000000000000001"}},'
     '"fullDocument":{"_id":{"$oid":"680684ff0000000000000001"},"owner":"alice",'
     '"n":{"$numberLong":"5"},"at":{"$date":{"$numberLong":"1745257727405"}},'
     '"d":{"$numberDouble":"1.5"}}}',
     [{"operation": "insert", "collection": "users", "document_id": "680684ff0000000000000001",
       "data": {"_id": {"$oid": "680684ff0000000000000001"}, "owner": "alice", "n": 5,
                "at": {"$date": "2025-04-21T17:48:47.405Z"}, "d": 1.5},
       "timestamp": 1745257727.0, "namespace": "test", "recipient": "alice", "id": "82AA01",
       "cluster_time": {"t": 1745257727, "i": 1}}]),
    # A delete: data is the pre-image, the recipient falls back to it.
    ('{"_id":{"_data":"82AA02"},"operationType":"delete",'
     '"clusterTime":{"$timestamp":{"t":1745257728,"i":2}},"ns":{"db":"test","coll":"users"},'
     '"documentKey":{"_id":{"$numberInt":"42"}},'
     '"fullDocumentBeforeChange":{"_id":42,"owner":"bob"}}',
     [{"operation": "delete", "collection": "users", "document_id": "42",
       "data": {"_id": 42, "owner": "bob"}, "timestamp": 1745257728.0, "namespace": "test",
       "recipient": "bob", "id": "82AA02", "cluster_time": {"t": 1745257728, "i": 2}}]),
    # An update without post-image: data {}, update from updateDescription,
    # a double _id as its shortest text, no owner: a broadcast.
    ('{"_id":{"_data":"82AA03"},"operationType":"update",'
     '"clusterTime":{"$timestamp":{"t":1745257729,"i":3}},"ns":{"db":"shop","coll":"orders"},'
     '"documentKey":{"_id":{"$numberDouble":"2.0"}},'
     '"updateDescription":{"updatedFields":{"status":"paid"},"removedFields":["cart"]}}',
     [{"operation": "update", "collection": "orders", "document_id": "2.0", "data": {},
       "timestamp": 1745257729.0, "namespace": "shop", "recipient": None, "id": "82AA03",
       "cluster_time": {"t": 1745257729, "i": 3},
       "update": {"updated": {"status": "paid"}, "removed": ["cart"]}}]),
    # Two recipients: one copy each, ids suffixed with the recipient.
    ('{"_id":{"_data":"82AA04"},"operationType":"replace",'
     '"clusterTime":{"$timestamp":{"t":1745257730,"i":4}},"ns":{"db":"test","coll":"users"},'
     '"documentKey":{"_id":"u9"},"fullDocument":{"_id":"u9","owner":["alice","bob"]}}',
     [{"operation": "replace", "collection": "users", "document_id": "u9",
       "data": {"_id": "u9", "owner": ["alice", "bob"]}, "timestamp": 1745257730.0,
       "namespace": "test", "recipient": r, "id": "82AA04:" + r,
       "cluster_time": {"t": 1745257730, "i": 4}} for r in ("alice", "bob")]),
    # A document _id: compact relaxed Extended JSON.
    ('{"_id":{"_data":"82AA05"},"operationType":"insert",'
     '"clusterTime":{"$timestamp":{"t":1745257731,"i":5}},"ns":{"db":"test","coll":"users"},'
     '"documentKey":{"_id":{"a":1,"b":"c"}},"fullDocument":{"_id":{"a":1,"b":"c"},"name":"x"}}',
     [{"operation": "insert", "collection": "users", "document_id": '{"a":1,"b":"c"}',
       "data": {"_id": {"a": 1, "b": "c"}, "name": "x"}, "timestamp": 1745257731.0,
       "namespace": "test", "recipient": None, "id": "82AA05",
       "cluster_time": {"t": 1745257731, "i": 5}}]),
]


def test_known_envelopes_exact(tmp_path, plugin_dir, daemon):
    """Each known change becomes exactly the envelope(s) the SPEC describes."""
    (tmp_path / "changes.jsonl").write_text("".join(line + "\n" for line, _ in KNOWN))
    d = daemon(replay_manifest(tmp_path, plugin_dir))
    assert d.wait() == 0, d.stderr()
    got = read_envelopes(tmp_path / "out.jsonl")
    want = [e for _, envs in KNOWN for e in envs]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w
        assert isinstance(g["timestamp"], (int, float))
        assert ("update" in g) == (g["operation"] == "update")


def test_fields_select_paths(tmp_path, plugin_dir, daemon, gen):
    """With `fields`, data is {path: value} for each path that has a value."""
    (tmp_path / "changes.jsonl").write_text(
        "".join(gen.event_line(k) + "\n" for k in range(10)))
    d = daemon(replay_manifest(tmp_path, plugin_dir,
                               {"fields": ["fullDocument.name", "fullDocument.seq",
                                           "fullDocument.nothing"]}))
    assert d.wait() == 0, d.stderr()
    got = read_envelopes(tmp_path / "out.jsonl")
    assert [e["id"] for e in got] == [gen.token(k) for k in range(10)]
    for k, e in enumerate(got):
        # A delete reads fullDocument.* from the pre-image.
        assert e["data"] == {"fullDocument.name": gen.NAMES[k % len(gen.NAMES)],
                             "fullDocument.seq": k}, e


def test_bad_lines_skipped_with_warning(tmp_path, plugin_dir, daemon, gen):
    """Malformed lines in the middle are skipped with a warning naming
    file:line; every good line around them is delivered in order."""
    lines = [gen.event_line(k) for k in range(200)]
    bad = {50: "this is not json", 51: '{"operationType": "insert", "trunc',
           120: '["an array, not a change event"]', 150: "{}"}
    for at in sorted(bad):   # ascending: each lands at its final index
        lines.insert(at, bad[at])
    text = "".join(line + "\n" for line in lines)
    (tmp_path / "changes.jsonl").write_text(text)
    d = daemon(replay_manifest(tmp_path, plugin_dir))
    assert d.wait() == 0, d.stderr()
    err = d.stderr()
    for at in bad:
        # Line numbers count from 1.
        assert re.search(r"level=warn .*changes\.jsonl:%d: [^\n]*skipped" % (at + 1), err), \
            "no warning for line %d in:\n%s" % (at + 1, err)
    assert len(re.findall(r"level=warn[^\n]*changes\.jsonl:\d+:", err)) == len(bad)
    got = read_envelopes(tmp_path / "out.jsonl")
    assert [e["data"]["seq"] for e in got] == list(range(200))
    assert read_state(tmp_path / "changecast.state") == len(text.encode())


def test_clean_finish_then_restart_delivers_nothing(tmp_path, plugin_dir, daemon, gen):
    """After a clean finish the state holds the end of the file; a second run
    delivers nothing more and keeps that position."""
    n = 5000
    size = gen.write_changes(str(tmp_path / "changes.jsonl"), n)
    m = replay_manifest(tmp_path, plugin_dir)
    d = daemon(m)
    assert d.wait() == 0, d.stderr()
    assert count_lines(tmp_path / "out.jsonl") == n
    assert read_state(tmp_path / "changecast.state") == size
    assert line_ends(tmp_path / "changes.jsonl")[-1] == size

    d2 = daemon(m)
    assert d2.wait() == 0, d2.stderr()
    assert count_lines(tmp_path / "out.jsonl") == n, "the restart delivered events again"
    assert read_state(tmp_path / "changecast.state") == size
    assert re.search(r"resuming \S*changes\.jsonl at byte %d" % size, d2.stderr()), d2.stderr()


def test_restart_picks_up_appended_lines(tmp_path, plugin_dir, daemon, gen):
    """Lines appended after a finished run are all that the next run delivers."""
    gen.write_changes(str(tmp_path / "changes.jsonl"), 300)
    m = replay_manifest(tmp_path, plugin_dir)
    assert daemon(m).wait() == 0
    gen.write_changes(str(tmp_path / "changes.jsonl"), 200, start=300, append=True)
    d = daemon(m)
    assert d.wait() == 0, d.stderr()
    got = read_envelopes(tmp_path / "out.jsonl")
    assert [e["data"]["seq"] for e in got] == list(range(500))
    assert read_state(tmp_path / "changecast.state") == (tmp_path / "changes.jsonl").stat().st_size


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_rate_spaces_events(tmp_path, plugin_dir, daemon, gen):
    """rate: 2000 events/s for 1000 events cannot finish in under ~0.5 s
    (a lower bound only: a slow machine just takes longer)."""
    gen.write_changes(str(tmp_path / "changes.jsonl"), 1000)
    t0 = time.monotonic()
    d = daemon(replay_manifest(tmp_path, plugin_dir, {"rate": 2000}))
    assert d.wait() == 0, d.stderr()
    assert time.monotonic() - t0 >= 0.45
    assert count_lines(tmp_path / "out.jsonl") == 1000


def test_two_sources_keep_their_own_order_and_position(tmp_path, plugin_dir, daemon, gen):
    """Two sources into one sink (and one sink fed by `from` a single source):
    each source's events arrive in its order; the state keeps a position per
    source."""
    gen.write_changes(str(tmp_path / "a.jsonl"), 3000)
    gen.write_changes(str(tmp_path / "b.jsonl"), 2000, start=10_000)
    m = write_manifest(
        tmp_path / "m.json", plugin_dir,
        [{"name": "a", "plugin": "jsonl", "config": {"path": "a.jsonl"}},
         {"name": "b", "plugin": "jsonl", "config": {"path": "b.jsonl"}}],
        [{"name": "both", "plugin": "file", "config": {"path": "both.jsonl"}},
         {"name": "only_b", "plugin": "file", "from": ["b"], "config": {"path": "b.out"}}])
    d = daemon(m)
    assert d.wait() == 0, d.stderr()
    both = [e["data"]["seq"] for e in read_envelopes(tmp_path / "both.jsonl")]
    assert [s for s in both if s < 10_000] == list(range(3000))
    assert [s for s in both if s >= 10_000] == list(range(10_000, 12_000))
    assert [e["data"]["seq"] for e in read_envelopes(tmp_path / "b.out")] == \
        list(range(10_000, 12_000))
    state = json.loads((tmp_path / "changecast.state").read_text())["sources"]
    assert int(state["a"]["position"]) == (tmp_path / "a.jsonl").stat().st_size
    assert int(state["b"]["position"]) == (tmp_path / "b.jsonl").stat().st_size
