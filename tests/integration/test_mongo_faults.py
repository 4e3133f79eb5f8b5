"""Faults under the mongo source: the real daemon (mongo source -> file sink)
against the MongoDB peer, writes from pymongo, faults from the peer's
failCommand fail point.

- peer hang-ups, resumable errors and a stall mid-stream: nothing lost,
  nothing twice;
- changecast SIGKILLed while writes go on, then restarted: every change
  delivered at least once, by `id`, in order;
- history lost: on_history_lost "fail" exits 1 with a clear message;
  "restart" continues from now and counts it;
- an unreachable server: the process serves, /healthz is 503 with the source
  "connecting", reconnects back off, and it connects and delivers once the
  server appears.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from cchelpers import poll, write_manifest
from mongopeer import MongoPeer, free_port, mongo_peer  # noqa: F401  (fixture)


# The daemons here get SIGKILLed; with libmongoc's shared-memory counters on,
# each would leave a /dev/shm/mongoc-<pid> behind, which makes a later
# process with that pid print a raw warning (see the stale-file test below).
# changecast turns them off itself; this keeps /dev/shm clean even so.
ENV = {"MONGOC_DISABLE_SHM": "1"}


def manifest(tmp_path, plugin_dir, uri, config=None, name="m.json", **extra):
    cfg = {"uri": uri, "database": "test", "watch": [{"collection": "users"}],
           "max_await_ms": 100}
    cfg.update(config or {})
    extra.setdefault("state", {"path": "changecast.state", "flush_ms": 100})
    return write_manifest(tmp_path / name, plugin_dir,
                          [{"name": "app", "plugin": "mongo", "config": cfg}],
                          [{"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}}],
                          **extra)


def envelopes(path):
    """The whole lines of `path` as envelopes (a line still being written,
    or cut by SIGKILL, is left out)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(x) for x in data[:data.rfind(b"\n") + 1].splitlines()]


def doc_ids(envs):
    return [int(e["document_id"]) for e in envs]


def wait_ids(path, want, seconds=30):
    """Waits until every id in `want` was delivered; returns all envelopes."""
    want = set(want)

    def done():
        envs = envelopes(path)
        return envs if want <= set(doc_ids(envs)) else None
    return poll(done, seconds, "ids %d..%d in %s" % (min(want), max(want), path))


def metric(d, name, absent=0.0):
    """The value of the source's metric `name` (`absent` when absent)."""
    body = d.http_get("/metrics")[2]
    m = re.search(r'^%s\{[^}]*source="app"[^}]*\} (\S+)$' % re.escape(name), body, re.M)
    return float(m.group(1)) if m else absent


def healthz(d):
    status, _, body = d.http_get("/healthz")
    return status, json.loads(body)


def connected(d):
    return poll(lambda: healthz(d)[0] == 200, 30, "the source connected")


def insert_range(coll, ids):
    for i in ids:
        coll.insert_one({"_id": i, "name": "user %d" % i})


def test_hangups_errors_and_stalls_lose_nothing(tmp_path, plugin_dir, daemon, mongo_peer):
    users = mongo_peer.client().test.users
    # A socket timeout well above max_await_ms, so that a stall can outlast it.
    m = manifest(tmp_path, plugin_dir, mongo_peer.uri + "&socketTimeoutMS=1000")
    d = daemon(m, env=ENV)
    connected(d)
    out = tmp_path / "out.jsonl"
    insert_range(users, range(0, 20))
    wait_ids(out, range(0, 20))

    # Each fault lands on a getMore while writes go on; the data check after
    # each step shows the step's fault fired (the fail point's count).
    steps = [
        # The peer hangs up: libmongoc resumes by itself.
        {"failCommands": ["getMore"], "closeConnection": True},
        # A resumable error, then again on libmongoc's own resume (the
        # aggregate): the source reconnects and resumes from its last token.
        {"failCommands": ["getMore", "aggregate"], "errorCode": 6,
         "errorLabels": ["ResumableChangeStreamError"]},
        # Without the label (wire version >= 9) libmongoc gives up at once:
        # the source's own backoff and resume.
        {"failCommands": ["getMore"], "errorCode": 91},
        # The hang-up again, on the aggregate that reopens after a getMore error.
        {"failCommands": ["getMore", "aggregate"], "closeConnection": True},
        # A stall: a getMore answered after 1.5 s, past the socket timeout.
        {"failCommands": ["getMore"], "blockConnection": True, "blockTimeMS": 1500},
    ]
    first = 20
    for n, data in enumerate(steps):
        mongo_peer.fail_point({"times": 2}, data)
        t = threading.Thread(target=insert_range, args=(users, range(first, first + 40)))
        t.start()
        t.join()
        first += 40
        wait_ids(out, range(0, first))
        poll(lambda: mongo_peer.fail_point_hits() >= 1, 20, "fault %d to fire" % n)
        mongo_peer.fail_point("off", {})
    envs = envelopes(out)
    ids = doc_ids(envs)
    assert ids == list(range(first)), "lost, repeated or reordered: %s" % ids
    # How many faults libmongoc absorbs by its own one resume depends on
    # timing; the error without the label (step 3) always reaches the source.
    assert metric(d, "changecast_mongo_reconnects_total") >= 1
    # The peer's oplog is readable: the history headroom is known (not -1).
    assert metric(d, "changecast_mongo_history_headroom_seconds", None) >= 0
    assert healthz(d)[0] == 200
    assert d.stop() == 0


def test_sigkill_while_writes_go_on_then_restart(tmp_path, plugin_dir, daemon, mongo_peer):
    users = mongo_peer.client().test.users
    m = manifest(tmp_path, plugin_dir, mongo_peer.uri)
    out = tmp_path / "out.jsonl"
    state = tmp_path / "changecast.state"
    d = daemon(m, env=ENV)
    connected(d)
    n = 1500
    writer = threading.Thread(target=insert_range, args=(users, range(n)))
    writer.start()
    try:
        poll(lambda: len(envelopes(out)) >= 300 and state.exists(), 30,
             "300 events and a saved state")
        d.signal(signal.SIGKILL)
        assert d.wait() == -signal.SIGKILL
        run1 = doc_ids(envelopes(out))
        time.sleep(0.2)                 # writes go on while changecast is down
        d2 = daemon(m, env=ENV)
    finally:
        writer.join()
    assert len(run1) < n, "SIGKILL came after every write was delivered"
    envs = wait_ids(out, range(n), 60)
    ids = doc_ids(envs)
    run2 = ids[len(run1):]
    # At least once, by id: everything arrives; the restart resumes at or
    # before the end of run 1 (repeats, no gap), and each run is in order.
    assert set(ids) == set(range(n))
    assert run1 == list(range(len(run1)))
    assert run2[0] <= run1[-1] + 1
    assert run2 == list(range(run2[0], n))
    by_id = {}
    for e in envs:
        by_id.setdefault(e["id"], []).append(int(e["document_id"]))
    assert all(len(set(v)) == 1 for v in by_id.values()), "one id for two changes"
    assert len(by_id) == n
    assert d2.stop() == 0


def _history_lost_setup(tmp_path, plugin_dir, daemon, peer, policy):
    """Delivers one change, stops changecast, writes while it is down, and
    drops the peer's history: the saved resume point is gone."""
    users = peer.client().test.users
    m = manifest(tmp_path, plugin_dir, peer.uri, {"on_history_lost": policy})
    d = daemon(m, env=ENV)
    connected(d)
    users.insert_one({"_id": 0})
    wait_ids(tmp_path / "out.jsonl", [0])
    assert d.stop() == 0
    users.insert_one({"_id": 1})        # missed for good
    peer.truncate_history()
    return m


def test_history_lost_fail_exits_1(tmp_path, plugin_dir, daemon, mongo_peer):
    m = _history_lost_setup(tmp_path, plugin_dir, daemon, mongo_peer, "fail")
    d = daemon(m, env=ENV)
    assert d.wait(60) == 1, d.stderr()[-3000:]
    err = d.stderr()
    assert re.search(r"history lost \(server error 286", err), err[-3000:]
    assert "on_history_lost" in err
    assert doc_ids(envelopes(tmp_path / "out.jsonl")) == [0]


def test_history_lost_restart_continues_and_counts(tmp_path, plugin_dir, daemon, mongo_peer):
    m = _history_lost_setup(tmp_path, plugin_dir, daemon, mongo_peer, "restart")
    d = daemon(m, env=ENV)
    poll(lambda: metric(d, "changecast_source_history_lost_total") == 1, 30,
         "history_lost_total 1")
    connected(d)
    d.wait_log(r"history lost \(server error 286.*continuing from now")
    mongo_peer.client().test.users.insert_one({"_id": 2})
    envs = wait_ids(tmp_path / "out.jsonl", [2])
    assert doc_ids(envs) == [0, 2]
    assert d.running()
    assert d.stop() == 0


@pytest.mark.parametrize("policy", ["fail", "restart"])
def test_history_lost_mid_stream(tmp_path, plugin_dir, daemon, policy):
    """The oplog rolls past a stream that is still open (the peer keeps 50
    events; 500 arrive at once): the getMore fails with 286, not a resume."""
    peer = MongoPeer(tmp_path, history=50)
    peer.start()
    try:
        users = peer.client().test.users
        m = manifest(tmp_path, plugin_dir, peer.uri, {"on_history_lost": policy})
        d = daemon(m, env=ENV)
        connected(d)
        users.insert_one({"_id": -1})
        wait_ids(tmp_path / "out.jsonl", [-1])
        peer.load("test.users", 500)
        if policy == "fail":
            assert d.wait(60) == 1, d.stderr()[-3000:]
            assert re.search(r"history lost \(server error 286", d.stderr())
            return
        poll(lambda: metric(d, "changecast_source_history_lost_total") == 1, 30,
             "history_lost_total 1")
        connected(d)
        users.insert_one({"_id": -2})
        envs = wait_ids(tmp_path / "out.jsonl", [-2])
        assert doc_ids(envs)[0] == -1 and doc_ids(envs)[-1] == -2
        assert len(envs) < 50, "more events than the peer kept"
        assert d.stop() == 0
    finally:
        peer.stop()


def saved_token(tmp_path, key="test/users"):
    """The _data of the stream's token in the state file, or None."""
    try:
        state = json.loads((tmp_path / "changecast.state").read_text())
        return json.loads(state["sources"]["app"]["position"])[key]["_data"]
    except (FileNotFoundError, KeyError, ValueError):
        return None


def test_quiet_stream_position_keeps_up_with_the_oplog(tmp_path, plugin_dir, daemon):
    """A stream whose collection is quiet while others are busy: its saved
    position follows the server's postBatchResumeToken (with no event
    delivered), so a restart after the oplog (50 entries here) rolled past
    its last event resumes instead of losing history."""
    peer = MongoPeer(tmp_path, history=50)
    peer.start()
    try:
        db = peer.client().test
        m = manifest(tmp_path, plugin_dir, peer.uri)
        d = daemon(m, env=ENV)
        connected(d)
        db.users.insert_one({"_id": 1})
        wait_ids(tmp_path / "out.jsonl", [1])
        first = poll(lambda: saved_token(tmp_path), 30, "a saved position")
        # Other collections get 200 writes, in steps the open stream keeps up
        # with (50 at once would roll past the open stream itself): the
        # oplog's 50 entries no longer reach the last users event.
        for i in range(0, 200, 20):
            db.other.insert_many([{"_id": k} for k in range(i, i + 20)])
            time.sleep(0.3)
        # The server's resume point now: an idle stream's postBatchResumeToken.
        with db.users.watch(max_await_time_ms=100) as probe:
            probe.try_next()
            now = probe.resume_token["_data"]
        poll(lambda: saved_token(tmp_path) == now, 30, "the saved position to reach %s" % now)
        assert saved_token(tmp_path) != first
        assert doc_ids(envelopes(tmp_path / "out.jsonl")) == [1], "nothing else delivered"
        assert d.stop() == 0

        db.users.insert_one({"_id": 2})           # while changecast is down
        d = daemon(m, env=ENV)
        envs = wait_ids(tmp_path / "out.jsonl", [2])
        assert doc_ids(envs) == [1, 2]
        assert "history lost" not in d.stderr()
        assert d.stop() == 0
    finally:
        peer.stop()


def _stale_mongoc_shm_file():
    """preexec_fn: leaves /dev/shm/mongoc-<pid> for the pid the command is
    about to run as, as a SIGKILLed earlier process with that pid would
    (libmongoc names its shared-memory counters by pid and never removes
    them when killed)."""
    fd = os.open("/dev/shm/mongoc-%d" % os.getpid(), os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


def test_stderr_holds_only_log_records_despite_a_stale_mongoc_shm_file(tmp_path, plugin_dir,
                                                                      changecast_bin):
    m = manifest(tmp_path, plugin_dir, "mongodb://127.0.0.1:1/?replicaSet=rs0")
    env = {k: v for k, v in os.environ.items() if k != "MONGOC_DISABLE_SHM"}
    proc = subprocess.Popen([changecast_bin, "check", "-c", str(m)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_stale_mongoc_shm_file)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        try:
            os.unlink("/dev/shm/mongoc-%d" % proc.pid)
        except FileNotFoundError:
            pass
    assert proc.returncode == 0, err
    assert "OK" in out
    assert [x for x in err.splitlines() if not re.match(r"ts=\S+ level=\w+ ", x)] == []


def test_unreachable_server_then_it_appears(tmp_path, plugin_dir, daemon):
    port = free_port()
    uri = ("mongodb://127.0.0.1:%d/?replicaSet=rs0&serverSelectionTimeoutMS=300"
           "&connectTimeoutMS=300" % port)
    d = daemon(manifest(tmp_path, plugin_dir, uri), env=ENV)
    # Serving, not connected, retrying.
    status, body = poll(lambda: (lambda h: h if h[1]["sources"].get("app") else None)(
        healthz(d)), 30, "a /healthz answer")
    assert (status, body["sources"]["app"], body["status"]) == (503, "connecting", "degraded")
    poll(lambda: metric(d, "changecast_mongo_reconnects_total") >= 3, 30, "3 reconnects")
    assert d.running()
    assert healthz(d)[0] == 503
    # Backoff: the waits grow (exponential, jittered by at most half).
    poll(lambda: metric(d, "changecast_mongo_reconnects_total") >= 4, 30, "4 reconnects")
    waits = {int(a): int(ms) for ms, a in
             re.findall(r"reconnecting in (\d+) ms \(attempt (\d+)\)", d.stderr())}
    assert waits[4] > waits[1] and waits[3] > 0, waits
    peer = MongoPeer(tmp_path, port=port)
    peer.start()
    try:
        connected(d)
        assert healthz(d)[1]["sources"]["app"] == "connected"
        peer.client().test.users.insert_one({"_id": 7})
        assert doc_ids(wait_ids(tmp_path / "out.jsonl", [7])) == [7]
        assert d.stop() == 0
    finally:
        peer.stop()
