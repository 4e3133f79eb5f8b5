"""The admin listener (/metrics, /healthz), sink filters seen through the
metrics, and SIGHUP reopening the file sink's output and the log."""

import json
import re
import signal

from cchelpers import count_lines, poll, read_envelopes, write_manifest

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Parses Prometheus text format 0.0.4 strictly enough to catch a broken
    exposition: {(name, frozenset(labels)): value}, plus {family: type}."""
    samples, types = {}, {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert fam not in types, "TYPE twice for " + fam
            types[fam] = typ
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.groups()
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert fam in types or name in types, "sample before its TYPE: %r" % line
        lab = frozenset(LABEL.findall(labels or ""))
        key = (name, lab)
        assert key not in samples, "duplicate sample %r" % line
        samples[key] = float(value)
    return samples, types


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def get_metrics(d):
    status, headers, body = d.http_get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    return parse_metrics(body)


def replay(tmp_path, plugin_dir, on_eof, sinks=None, **extra):
    src = [{"name": "replay", "plugin": "jsonl",
            "config": {"path": "changes.jsonl", "recipient": "fullDocument.owner",
                       "on_eof": on_eof}}]
    sinks = sinks or [{"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}}]
    return write_manifest(tmp_path / "m.json", plugin_dir, src, sinks, **extra)


def test_metrics_after_a_run(tmp_path, plugin_dir, daemon, gen):
    """After N events with on_eof stay: the source counter is N, the sink's ok
    counter N, the others 0, the bus drained, the latency histogram consistent."""
    n = 1000
    gen.write_changes(str(tmp_path / "changes.jsonl"), n)
    d = daemon(replay(tmp_path, plugin_dir, "stay", bus={"capacity": 4096}))

    def done():
        s, _ = get_metrics(d)
        return metric(s, "changecast_sink_events_total", sink="out", result="ok") == n and \
            metric(s, "changecast_bus_depth") == 0
    poll(done, 120, "all events acknowledged in /metrics", interval=0.1)
    s, types = get_metrics(d)
    assert metric(s, "changecast_source_events_total", source="replay") == n
    for result in ("failed", "dropped", "retried"):
        assert metric(s, "changecast_sink_events_total", sink="out", result=result) == 0
    assert metric(s, "changecast_bus_capacity") == 4096
    assert types["changecast_source_events_total"] == "counter"
    assert types["changecast_sink_events_total"] == "counter"
    assert types["changecast_bus_capacity"] == "gauge"
    assert types["changecast_bus_depth"] == "gauge"
    assert types["changecast_delivery_latency_seconds"] == "histogram"
    assert metric(s, "changecast_source_lag_seconds", source="replay") is not None

    buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in s.items()
                      if k[0] == "changecast_delivery_latency_seconds_bucket"))
    assert len(buckets) >= 2 and buckets[-1][0] == float("inf")
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets not cumulative"
    assert buckets[-1][1] == n
    assert metric(s, "changecast_delivery_latency_seconds_count") == n
    assert metric(s, "changecast_delivery_latency_seconds_sum") > 0

    assert count_lines(tmp_path / "out.jsonl") == n
    assert d.running(), "on_eof stay must keep the daemon running"
    assert d.stop() == 0, d.stderr()[-3000:]


def test_metrics_and_health_from_the_start(tmp_path, plugin_dir, daemon):
    """Before any event: every sink label combination is exported at zero,
    and /healthz answers 200 with the sources' and sinks' states."""
    (tmp_path / "changes.jsonl").write_bytes(b"")
    sinks = [{"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}},
             {"name": "second", "plugin": "file", "config": {"path": "second.jsonl"}}]
    d = daemon(replay(tmp_path, plugin_dir, "follow", sinks=sinks))
    s, _ = get_metrics(d)
    for sink in ("out", "second"):
        for result in ("ok", "failed", "dropped", "retried"):
            assert metric(s, "changecast_sink_events_total", sink=sink, result=result) == 0, \
                (sink, result)
    assert metric(s, "changecast_source_events_total", source="replay") == 0
    assert metric(s, "changecast_bus_capacity") == 65536   # the default
    assert metric(s, "changecast_bus_depth") == 0
    assert metric(s, "changecast_delivery_latency_seconds_count") == 0
    assert metric(s, "changecast_delivery_latency_seconds_bucket", le="+Inf") == 0

    def healthy():
        status, headers, body = d.http_get("/healthz")
        return (status, headers, body) if status == 200 else None
    status, headers, body = poll(healthy, 60, "/healthz 200")
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"status": "ok", "sources": {"replay": "connected"},
                                "sinks": {"out": "ok", "second": "ok"}}
    assert d.stop() == 0


def test_where_and_from_filters(tmp_path, plugin_dir, daemon, gen):
    """A sink with `where` gets only matching events, in order; its ok counter
    counts what it got. Another sink still gets everything."""
    n = 2000
    gen.write_changes(str(tmp_path / "changes.jsonl"), n)
    sinks = [{"name": "all", "plugin": "file", "config": {"path": "all.jsonl"}},
             {"name": "deletes", "plugin": "file", "from": ["replay"],
              "where": {"operation": ["delete"], "collection": ["users"]},
              "config": {"path": "deletes.jsonl"}},
             {"name": "none", "plugin": "file", "where": {"collection": ["orders"]},
              "config": {"path": "none.jsonl"}}]
    d = daemon(replay(tmp_path, plugin_dir, "finish", sinks=sinks))
    assert d.wait() == 0, d.stderr()
    want_del = [k for k in range(n) if gen.op(k) == "delete"]
    assert [e["data"]["seq"] for e in read_envelopes(tmp_path / "all.jsonl")] == list(range(n))
    got = read_envelopes(tmp_path / "deletes.jsonl")
    assert [e["data"]["seq"] for e in got] == want_del
    assert {e["operation"] for e in got} == {"delete"}
    assert count_lines(tmp_path / "none.jsonl") == 0


def test_where_counts_in_metrics(tmp_path, plugin_dir, daemon, gen):
    n = 1000
    gen.write_changes(str(tmp_path / "changes.jsonl"), n)
    sinks = [{"name": "inserts", "plugin": "file", "where": {"operation": ["insert"]},
              "config": {"path": "inserts.jsonl"}}]
    d = daemon(replay(tmp_path, plugin_dir, "stay", sinks=sinks))
    n_ins = sum(1 for k in range(n) if gen.op(k) == "insert")
    poll(lambda: count_lines(tmp_path / "inserts.jsonl") >= n_ins, 120, "the inserts")

    def settled():
        s, _ = get_metrics(d)
        return s if metric(s, "changecast_bus_depth") == 0 and metric(
            s, "changecast_sink_events_total", sink="inserts", result="ok") == n_ins else None
    s = poll(settled, 60, "metrics to settle", interval=0.1)
    assert metric(s, "changecast_source_events_total", source="replay") == n
    assert count_lines(tmp_path / "inserts.jsonl") == n_ins
    assert d.stop() == 0


def test_sighup_reopens_file_sink_and_log(tmp_path, plugin_dir, daemon, gen):
    """logrotate: rename out.jsonl and the log away, SIGHUP, and new events
    (and log lines) land in new files; the renamed ones keep what they had."""
    changes = tmp_path / "changes.jsonl"
    out = tmp_path / "out.jsonl"
    log = tmp_path / "changecast.log"
    gen.write_changes(str(changes), 100)
    d = daemon(replay(tmp_path, plugin_dir, "follow", log={"path": "changecast.log"}))
    poll(lambda: count_lines(out) == 100, 120, "the first 100 events")
    poll(lambda: log.exists() and "admin on port" in log.read_text(), 60, "the log file")
    out.rename(tmp_path / "out.jsonl.1")
    log.rename(tmp_path / "changecast.log.1")

    d.signal(signal.SIGHUP)
    poll(lambda: log.exists() and re.search(r"level=info .*reopened \S*out\.jsonl",
                                            log.read_text()), 60,
         "the log to be reopened and the sink to log its reopen")
    assert out.exists(), "SIGHUP did not create a new out.jsonl"
    gen.write_changes(str(changes), 100, start=100, append=True)
    poll(lambda: count_lines(out) == 100, 120, "100 new events in the new out.jsonl")
    assert d.stop() == 0

    old = read_envelopes(tmp_path / "out.jsonl.1")
    new = read_envelopes(out)
    assert [e["data"]["seq"] for e in old] == list(range(100))
    assert [e["data"]["seq"] for e in new] == list(range(100, 200))
    # The SIGHUP line is the old log's last words; the new log starts after it.
    assert "SIGHUP" in (tmp_path / "changecast.log.1").read_text()
    assert "reopened" not in (tmp_path / "changecast.log.1").read_text()
    assert "stopped (exit 0)" in log.read_text()
