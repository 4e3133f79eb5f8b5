"""Stopping mid-stream and starting again: SIGTERM drains and saves the exact
resume point; SIGKILL loses nothing (at-least-once)."""

import json
import re
import signal
import threading
import time

import pytest

from cchelpers import count_lines, line_ends, poll, read_envelopes, read_state, replay_manifest

N = 100_000
RATE = 20_000


def split_runs(out_path, run1_bytes):
    """Envelopes written by run 1 (the file as run 1 left it: `run1_bytes`)
    and by run 2 (the rest). A partial last line of run 1 (a write cut by
    SIGKILL or a failed write) was never acknowledged: the sink cuts it when
    it opens the file again, so run 2 starts where that line began."""
    data = out_path.read_bytes()
    cut = run1_bytes.rfind(b"\n") + 1
    partial = run1_bytes[cut:]
    assert data[:cut] == run1_bytes[:cut], "run 2 changed what run 1 wrote whole"
    tmp1 = out_path.with_suffix(".run1")
    tmp1.write_bytes(run1_bytes[:cut])
    tmp2 = out_path.with_suffix(".run2")
    tmp2.write_bytes(data[cut:])
    return read_envelopes(tmp1), read_envelopes(tmp2), partial


def seqs(envs):
    return [e["data"]["seq"] for e in envs]


def assert_consecutive(xs, first, what):
    """xs is first, first+1, ... with nothing missing, repeated or reordered."""
    for i, x in enumerate(xs):
        if x != first + i:
            pytest.fail("%s: position %d holds seq %d, expected %d (order broken or event "
                        "lost/duplicated)" % (what, i, x, first + i))


def check_two_runs(run1, run2, n, max_dup):
    """Both runs in order; together they hold every event; duplicates only
    where run 2 restarted before the end of run 1. Returns the duplicates."""
    s1, s2 = seqs(run1), seqs(run2)
    assert s1, "run 1 delivered nothing"
    assert s2, "run 2 delivered nothing"
    assert_consecutive(s1, 0, "run 1")
    assert_consecutive(s2, s2[0], "run 2")
    assert s2[0] <= s1[-1] + 1, "gap: run 1 ended at %d, run 2 started at %d" % (s1[-1], s2[0])
    assert s2[-1] == n - 1
    assert set(s1) | set(s2) == set(range(n))
    dup = len(s1) + len(s2) - n
    assert dup <= max_dup, "%d duplicates (allowed %d)" % (dup, max_dup)
    ids = [e["id"] for e in run2]
    assert len(set(ids)) == len(ids)
    return dup


def test_sigterm_mid_stream_resumes_after_last_ack(tmp_path, plugin_dir, daemon, gen):
    changes = tmp_path / "changes.jsonl"
    out = tmp_path / "out.jsonl"
    gen.write_changes(str(changes), N)
    ends = line_ends(changes)

    d = daemon(replay_manifest(tmp_path, plugin_dir, {"rate": RATE}))
    poll(lambda: count_lines(out) >= N // 5, 120, "a fifth of the events in out.jsonl")
    d.signal(signal.SIGTERM)
    assert d.wait() == 0, d.stderr()[-4000:]
    assert "stopped (exit 0)" in d.stderr()
    size1 = out.stat().st_size
    run1_bytes = out.read_bytes()
    run1 = read_envelopes(out)
    assert 0 < len(run1) < N, "SIGTERM did not land mid-stream (%d events)" % len(run1)
    # SIGTERM drains the bus: the state names exactly the last delivered line.
    last1 = run1[-1]["data"]["seq"]
    assert read_state(tmp_path / "changecast.state") == ends[last1]

    # Restart at full speed (same source name, so the same saved position).
    d2 = daemon(replay_manifest(tmp_path, plugin_dir, name="m2.json"))
    assert d2.wait() == 0, d2.stderr()[-4000:]
    run1b, run2, partial = split_runs(out, run1_bytes)
    assert partial == b"" and len(run1b) == len(run1)
    # Delivery resumes right after the last acknowledged event.
    assert run2[0]["data"]["seq"] == last1 + 1
    check_two_runs(run1, run2, N, max_dup=N // 100)
    assert read_state(tmp_path / "changecast.state") == ends[-1]


def test_sigterm_while_following_a_growing_file(tmp_path, plugin_dir, daemon, gen):
    """on_eof follow with a writer appending: SIGTERM mid-stream, restart,
    every event arrives, in order, the resume point exact."""
    n, chunk = 60_000, 500
    changes = tmp_path / "changes.jsonl"
    out = tmp_path / "out.jsonl"
    changes.write_bytes(b"")
    stop = threading.Event()

    def writer():
        for start in range(0, n, chunk):
            if stop.is_set():
                return
            gen.write_changes(str(changes), chunk, start=start, append=True)
            time.sleep(0.01)

    t = threading.Thread(target=writer, daemon=True)
    m = replay_manifest(tmp_path, plugin_dir, {"on_eof": "follow"})
    d = daemon(m)
    d.admin_port()   # running
    t.start()
    try:
        poll(lambda: count_lines(out) >= 10_000, 120, "10000 events in out.jsonl")
        d.signal(signal.SIGTERM)
        assert d.wait() == 0, d.stderr()[-4000:]
        size1 = out.stat().st_size
        run1_bytes = out.read_bytes()
        run1 = read_envelopes(out)
        last1 = run1[-1]["data"]["seq"]
        pos = read_state(tmp_path / "changecast.state")

        d2 = daemon(m)
        t.join(timeout=300)
        assert not t.is_alive()
        assert len(run1) < n, "SIGTERM came after the writer finished"
        poll(lambda: count_lines(out) >= len(run1) + (n - 1 - last1), 300,
             "the rest of the events after the restart")
        assert d2.stop() == 0, d2.stderr()[-4000:]
    finally:
        stop.set()
        t.join(timeout=60)
    ends = line_ends(changes)
    assert pos == ends[last1]
    run1b, run2, partial = split_runs(out, run1_bytes)
    assert partial == b""
    assert run2[0]["data"]["seq"] == last1 + 1
    check_two_runs(run1, run2, n, max_dup=n // 100)
    assert read_state(tmp_path / "changecast.state") == ends[-1]


def test_sigkill_mid_stream_loses_nothing(tmp_path, plugin_dir, daemon, gen):
    """SIGKILL: no clean shutdown. The restart resumes from the last saved
    position (exactly), so events between it and the kill come again, and
    none is lost."""
    changes = tmp_path / "changes.jsonl"
    out = tmp_path / "out.jsonl"
    state = tmp_path / "changecast.state"
    gen.write_changes(str(changes), N)
    ends = line_ends(changes)
    starts = {0: 0}
    starts.update({e: i + 1 for i, e in enumerate(ends)})  # position -> next seq

    d = daemon(replay_manifest(tmp_path, plugin_dir, {"rate": RATE},
                               state={"path": "changecast.state", "flush_ms": 100}))
    poll(lambda: count_lines(out) >= N // 5 and state.exists() and read_state(state) > 0, 120,
         "a fifth of the events and a saved position")
    d.signal(signal.SIGKILL)
    assert d.wait() == -signal.SIGKILL
    size1 = out.stat().st_size
    run1_bytes = out.read_bytes()
    pos = read_state(state)
    assert pos in starts, "saved position %d is not at a line boundary" % pos

    d2 = daemon(replay_manifest(tmp_path, plugin_dir, name="m2.json"))
    assert d2.wait() == 0, d2.stderr()[-4000:]
    run1, run2, partial = split_runs(out, run1_bytes)
    assert len(run1) < N, "SIGKILL did not land mid-stream"
    # The restart starts exactly at the saved position, which never runs
    # ahead of what the sink wrote.
    assert run2[0]["data"]["seq"] == starts[pos]
    assert starts[pos] <= run1[-1]["data"]["seq"] + 1
    check_two_runs(run1, run2, N, max_dup=N)
    assert read_state(state) == ends[-1]


def _file_size_limit(limit):
    """preexec_fn: writes past `limit` bytes fail with EFBIG (SIGXFSZ ignored),
    a disk that fills up in the middle of a line."""
    import resource

    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def _outage_run(tmp_path, plugin_dir, daemon, gen, n, limit):
    """Run 1 with the sink failing after `limit` bytes; returns (size of
    out.jsonl after run 1, line ends of the input)."""
    gen.write_changes(str(tmp_path / "changes.jsonl"), n)
    ends = line_ends(tmp_path / "changes.jsonl")
    out = tmp_path / "out.jsonl"
    d = daemon(replay_manifest(tmp_path, plugin_dir, {"on_eof": "stay"}, shutdown_ms=300,
                               log={"level": "info"}),
               preexec_fn=_file_size_limit(limit))

    def down():
        status, _, body = d.http_get("/healthz")
        return json.loads(body)["sinks"]["out"] == "down"
    poll(down, 60, "/healthz to report the sink down")
    d.wait_log(r"level=error plugin=file name=out msg=\"cannot write to \S*out\.jsonl: File too "
               r"large; keeping \d+ events unacknowledged and retrying\"")
    assert d.stop() == 0, d.stderr()[-3000:]
    assert re.search(r"shutdown_ms passed with \d+ events not acknowledged", d.stderr())
    size1 = out.stat().st_size
    run1_bytes = out.read_bytes()
    assert size1 == limit
    # The saved position is the end of the last line written whole.
    whole = out.read_bytes().count(b"\n")
    assert read_state(tmp_path / "changecast.state") == ends[whole - 1]
    return run1_bytes, ends


def test_sink_outage_then_restart_loses_nothing(tmp_path, plugin_dir, daemon, gen):
    """The file sink fails mid-stream (file size limit): it reports down,
    keeps the rest unacknowledged, the state stops at the last whole line,
    and a restart (limit gone) delivers everything after it."""
    n = 2000
    run1_bytes, ends = _outage_run(tmp_path, plugin_dir, daemon, gen, n, limit=100_000)
    d2 = daemon(replay_manifest(tmp_path, plugin_dir, name="m2.json"))
    assert d2.wait() == 0, d2.stderr()[-3000:]
    run1, run2, partial = split_runs(tmp_path / "out.jsonl", run1_bytes)
    assert partial, "expected the limit to cut a line"
    assert "ended with a partial line (%d bytes" % len(partial) in d2.stderr()
    assert run2[0]["data"]["seq"] == run1[-1]["data"]["seq"] + 1
    check_two_runs(run1, run2, n, max_dup=0)
    assert read_state(tmp_path / "changecast.state") == ends[-1]


def test_no_torn_line_after_outage_and_restart(tmp_path, plugin_dir, daemon, gen):
    """A JSON-lines consumer reading the whole file must find every line
    parseable and every event present after the outage and the restart."""
    n = 2000
    _outage_run(tmp_path, plugin_dir, daemon, gen, n, limit=100_000)
    d2 = daemon(replay_manifest(tmp_path, plugin_dir, name="m2.json"))
    assert d2.wait() == 0, d2.stderr()[-3000:]
    seen = set()
    for i, line in enumerate((tmp_path / "out.jsonl").read_bytes().split(b"\n")[:-1], 1):
        try:
            seen.add(json.loads(line)["data"]["seq"])
        except ValueError:
            pytest.fail("out.jsonl line %d is not JSON: %r" % (i, line[:160]))
    assert seen == set(range(n))
