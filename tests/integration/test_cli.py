"""The command line: check, plugins, version, usage errors, and ${VAR}
substitution in a real run."""

import json
import os
import re
import socket
from pathlib import Path

import pytest

from cchelpers import BUILD_ROOT, SOURCE_ROOT, read_envelopes, read_state, run_cli


def project_version():
    m = re.search(r"version\s*:\s*'([^']+)'", (SOURCE_ROOT / "meson.build").read_text())
    assert m, "no version in meson.build"
    return m.group(1)


def plugin_names(changecast_bin, plugin_dir):
    r = run_cli(changecast_bin, "plugins", "--plugin-dir", plugin_dir)
    assert r.returncode == 0, r.stderr
    return sorted(line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip())


SRC = {"name": "replay", "plugin": "jsonl", "config": {"path": "changes.jsonl"}}
SNK = {"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}}


def manifest(plugin_dir, **over):
    m = {"plugin_dir": plugin_dir, "admin": {"listen": "127.0.0.1:0"},
         "sources": [SRC], "sinks": [SNK]}
    m.update(over)
    return json.dumps(m)


def test_check_ok(tmp_path, changecast_bin, plugin_dir):
    """check: OK line on stdout, exit 0, and nothing opened or created."""
    (tmp_path / "good.json").write_text(manifest(plugin_dir, state={"path": "s.state"}))
    r = run_cli(changecast_bin, "check", "-c", "good.json", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "good.json: OK (1 source, 1 sink)\n"), r.stderr
    assert not (tmp_path / "out.jsonl").exists(), "check opened the sink's file"
    assert not (tmp_path / "s.state").exists(), "check wrote the state file"

    # Plural form, the default manifest name, and $CHANGECAST_MANIFEST.
    two = manifest(plugin_dir, sinks=[SNK, dict(SNK, name="out2")])
    (tmp_path / "changecast.json").write_text(two)
    r = run_cli(changecast_bin, "check", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "changecast.json: OK (1 source, 2 sinks)\n"), r.stderr
    r = run_cli(changecast_bin, "check", cwd="/", env={"CHANGECAST_MANIFEST":
                                                       str(tmp_path / "good.json")})
    assert (r.returncode, r.stdout) == (0, "%s: OK (1 source, 1 sink)\n"
                                        % (tmp_path / "good.json")), r.stderr


@pytest.mark.parametrize("sink, says", [
    ({"plugin": "http", "config": {"url": "ftp://example.com/hook"}},
     "sinks[0].config.url: expected an http:// or https:// URL"),
    ({"plugin": "http", "config": {"url": "http://127.0.0.1:1/", "secret": "whsec_!!"}},
     "sinks[0].config.secret: expected a non-empty secret"),
    ({"plugin": "websocket", "config": {"listen": "127.0.0.1:notaport"}},
     "sinks[0].config.listen: expected host:port"),
    ({"plugin": "websocket", "config": {"listen": "127.0.0.1:0", "path": "ws/{recipient}"}},
     "sinks[0].config.path: expected a path starting with '/'"),
    ({"plugin": "websocket", "config": {"listen": "127.0.0.1:0",
                                        "tls": {"cert": "none.pem", "key": "none.key"}}},
     "sinks[0].config.tls"),
    ({"plugin": "database", "config": {"uri": "mongodb://127.0.0.1/?w=0", "database": "a",
                                       "collection": "b"}},
     "sinks[0].config.uri: w=0"),
])
def test_check_asks_each_plugin_about_its_config(tmp_path, changecast_bin, plugin_dir, sink, says):
    """check runs each plugin's own config check (ABI 1.3): what `run` would
    refuse with exit 2 is refused here, naming the key, and nothing is
    opened, bound or connected."""
    m = json.loads(manifest(plugin_dir))
    m["sinks"] = [dict(sink, name="out")]
    (tmp_path / "bad.json").write_text(json.dumps(m))
    r = run_cli(changecast_bin, "check", "-c", "bad.json", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert says in r.stderr, r.stderr
    assert r.stdout == ""


def test_check_asks_sources_too(tmp_path, changecast_bin, plugin_dir):
    """A source's own check: a jsonl recipient path with an empty segment
    is refused by check as by run, and the input file is not opened."""
    m = json.loads(manifest(plugin_dir))
    m["sources"] = [dict(SRC, config={"path": "missing.jsonl", "recipient": "a..b"})]
    (tmp_path / "bad.json").write_text(json.dumps(m))
    r = run_cli(changecast_bin, "check", "-c", "bad.json", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert 'recipient: empty path segment in \\"a..b\\"' in r.stderr, r.stderr
    m["sources"] = [dict(SRC, config={"path": "missing.jsonl", "recipient": "a.b"})]
    (tmp_path / "good.json").write_text(json.dumps(m))
    r = run_cli(changecast_bin, "check", "-c", "good.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr   # the file may come later (a FIFO, a capture)


def test_check_creates_no_dead_letter_file(tmp_path, changecast_bin, plugin_dir):
    """A sound http sink passes check, and its dead-letter file (opened at
    run) is not created by it."""
    m = json.loads(manifest(plugin_dir))
    m["sinks"] = [{"name": "hook", "plugin": "http",
                   "config": {"url": "http://127.0.0.1:1/", "dead_letter": "dead.jsonl"}}]
    (tmp_path / "good.json").write_text(json.dumps(m))
    r = run_cli(changecast_bin, "check", "-c", "good.json", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "good.json: OK (1 source, 1 sink)\n"), r.stderr
    assert not (tmp_path / "dead.jsonl").exists()


def _bad_manifests(pd):
    """(name, manifest text, expected stderr line(s)); `pd` = plugin folder."""
    def bad(**over):
        return manifest(pd, **over)
    return [
        ("unknown top-level key with a suggestion",
         bad(sourcs=[]), 'bad.json: sourcs: unknown key; did you mean "sources"?'),
        ("unknown entry key with a suggestion",
         bad(sinks=[dict(SNK, on_ful="drop")]),
         'bad.json: sinks[0].on_ful: unknown key; did you mean "on_full"?'),
        ("unknown plugin config key with a suggestion",
         bad(sources=[dict(SRC, config={"pth": "x"})]),
         'bad.json: sources[0].config.pth: unknown key; did you mean "path"?'),
        ("wrong type at sinks[0].config.path",
         bad(sinks=[dict(SNK, config={"path": 5})]),
         "bad.json: sinks[0].config.path: expected a string"),
        ("wrong type at a core key",
         bad(bus={"capacity": "big"}), "bad.json: bus.capacity: expected an integer"),
        ("unknown plugin",
         bad(sinks=[dict(SNK, plugin="nosuch")]),
         'bad.json: sinks[0].plugin: no plugin named "nosuch" in %s (found: {found})' % pd),
        ("a source plugin used as a sink",
         bad(sinks=[dict(SNK, plugin="jsonl")]),
         'bad.json: sinks[0].plugin: "jsonl" is a source, not a sink'),
        ("a sink plugin used as a source",
         bad(sources=[dict(SRC, plugin="file")]),
         'bad.json: sources[0].plugin: "file" is a sink, not a source'),
        ("unset ${VAR}",
         bad(sources=[dict(SRC, config={"path": "${CC_IT_SURELY_UNSET}/x.jsonl"})]),
         "bad.json: sources[0].config.path: environment variable CC_IT_SURELY_UNSET is not set"),
        ("invalid JSON with line:col",
         '{"plugin_dir": "x",\n  "sources": [,]}',
         "bad.json:2:15: invalid JSON: unexpected token near ','"),
        ("missing sinks", json.dumps({"plugin_dir": pd, "sources": [SRC]}),
         'bad.json: missing required key "sinks"'),
        ("from naming no source",
         bad(sinks=[dict(SNK, **{"from": ["nope"]})]),
         'bad.json: sinks[0].from[0]: no source named "nope" (sources: replay)'),
        ("on_full choice",
         bad(sinks=[dict(SNK, on_full="maybe")]),
         'bad.json: sinks[0].on_full: must be one of "block", "drop"; got "maybe"'),
        ("duplicate names",
         bad(sinks=[SNK, SNK]), 'bad.json: sinks[1].name: "out" is already used by sinks[0]'),
        ("plugin config range",
         bad(sources=[dict(SRC, config={"rate": -1})]),
         "bad.json: sources[0].config.rate: must be between 0 and 1000000000; got -1"),
        ("plugin config choice",
         bad(sources=[dict(SRC, config={"on_eof": "loop"})]),
         'bad.json: sources[0].config.on_eof: must be one of "finish", "follow", "stay"; '
         'got "loop"'),
        ("empty file", "",
         'bad.json: the manifest is empty; it needs at least "sources" and "sinks"'),
        ("not an object", "[]", "bad.json: expected an object at the top level"),
    ]


CASES = [c[0] for c in _bad_manifests("PD")]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["check", "run"])
def test_bad_manifest_exit_2_with_exact_message(case, command, tmp_path, changecast_bin,
                                                plugin_dir):
    """Each bad manifest: exit 2, the exact message (naming the place) as the
    first stderr line, nothing on stdout, no output file created."""
    _, text, want = next(c for c in _bad_manifests(plugin_dir) if c[0] == case)
    want = want.replace("{found}", ", ".join(plugin_names(changecast_bin, plugin_dir)))
    (tmp_path / "bad.json").write_text(text)
    (tmp_path / "changes.jsonl").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "CC_IT_SURELY_UNSET"}
    r = run_cli(changecast_bin, command, "-c", "bad.json", cwd=tmp_path, env=env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.splitlines()[0:1] == [want], r.stderr
    assert r.stdout == ""
    assert not (tmp_path / "out.jsonl").exists()


def test_missing_manifest(tmp_path, changecast_bin):
    r = run_cli(changecast_bin, "check", "-c", "nope.json", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "nope.json: cannot read: No such file or directory"
    r = run_cli(changecast_bin, "check", cwd=tmp_path,
                env={"CHANGECAST_MANIFEST": ""})
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "changecast.json: cannot read: No such file or directory"


def test_runtime_failure_exit_1(tmp_path, changecast_bin, plugin_dir):
    """A failure at run time (the admin port is taken) exits 1 with the reason."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        (tmp_path / "m.json").write_text(manifest(plugin_dir,
                                                  admin={"listen": "127.0.0.1:%d" % port}))
        (tmp_path / "changes.jsonl").write_text("")
        r = run_cli(changecast_bin, "run", "-c", "m.json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert ("admin.listen: cannot listen on 127.0.0.1:%d: Address already in use" % port
            in r.stderr), r.stderr


def test_plugins_lists_jsonl_and_file(changecast_bin, plugin_dir):
    r = run_cli(changecast_bin, "plugins", "--plugin-dir", plugin_dir)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "VERSION", "ABI", "PATH"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    abi = re.search(r"plugin ABI (\d+\.\d+)",
                    run_cli(changecast_bin, "version").stdout).group(1)
    assert rows["jsonl"] == ["jsonl", "source", "1.0.0", abi,
                             os.path.join(plugin_dir, "jsonl.so")]
    assert rows["file"] == ["file", "sink", "1.0.0", abi, os.path.join(plugin_dir, "file.so")]
    assert r.stderr == ""

    # The folder may also come from $CHANGECAST_PLUGIN_DIR.
    r2 = run_cli(changecast_bin, "plugins", env={"CHANGECAST_PLUGIN_DIR": plugin_dir})
    assert r2.returncode == 0 and r2.stdout == r.stdout


def test_plugins_help(changecast_bin, plugin_dir):
    r = run_cli(changecast_bin, "plugins", "--plugin-dir", plugin_dir, "--help", "jsonl")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("jsonl 1.0.0 — source (%s" % os.path.join(plugin_dir, "jsonl.so"))
    keys = re.findall(r"^  (\w+)\s", r.stdout.split("config keys:", 1)[1], re.M)
    assert keys == ["path", "rate", "fields", "recipient", "on_eof"]
    assert re.search(r'^  on_eof .*"finish", "follow", "stay".*default "finish"', r.stdout, re.M)

    r = run_cli(changecast_bin, "plugins", "--plugin-dir", plugin_dir, "--help", "file")
    assert r.returncode == 0
    assert re.findall(r"^  (\w+)\s", r.stdout.split("config keys:", 1)[1], re.M) == \
        ["path", "fsync"]

    r = run_cli(changecast_bin, "plugins", "--plugin-dir", plugin_dir, "--help", "nosuch")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == \
        'changecast: no plugin named "nosuch" (run `changecast plugins`)'


def test_plugins_refusals_do_not_stop_the_others(tmp_path, changecast_bin, plugin_dir):
    """Files that are not loadable plugins are refused with a reason on
    stderr; the good ones still list (and run)."""
    pd = tmp_path / "pd"
    pd.mkdir()
    for name in ("jsonl.so", "file.so"):
        os.symlink(os.path.join(plugin_dir, name), pd / name)
    (pd / "bogus.so").write_text("not an ELF file\n")
    dirs = [str(pd)]
    abi = BUILD_ROOT / "tests" / "abi" if BUILD_ROOT else None
    if abi and (abi / "other_major.so").exists():
        dirs.append(str(abi))
    r = run_cli(changecast_bin, "plugins", "--plugin-dir", ":".join(dirs))
    assert r.returncode == 0, r.stderr
    names = [ln.split()[0] for ln in r.stdout.splitlines()[1:]]
    assert "jsonl" in names and "file" in names
    assert re.search(r"^%s: cannot load: " % re.escape(str(pd / "bogus.so")), r.stderr,
                     re.M), r.stderr
    if len(dirs) > 1:
        assert "abi_old_minor" in names   # an older minor loads
        assert re.search(r"other_major\.so: refused: built for ABI 2\.0", r.stderr), r.stderr
        assert re.search(r"new_minor\.so: .*built for ABI 1\.\d+, newer than", r.stderr)
        assert re.search(r"no_entry\.so: not a changecast plugin: no cc_plugin_entry symbol",
                         r.stderr)
        assert re.search(r'dup_b\.so: .*a plugin named "abi_dup" is already loaded from '
                         r'\S*dup_a\.so', r.stderr)

    # A run with the same folders works and warns about each refusal.
    (tmp_path / "changes.jsonl").write_text(
        '{"_id":{"_data":"82AA"},"operationType":"insert","ns":{"db":"d","coll":"c"},'
        '"documentKey":{"_id":1},"fullDocument":{"_id":1}}\n')
    (tmp_path / "m.json").write_text(json.dumps(
        {"plugin_dir": dirs, "admin": {"listen": "127.0.0.1:0"}, "sources": [SRC],
         "sinks": [SNK]}))
    r = run_cli(changecast_bin, "run", "-c", "m.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"level=warn .*bogus\.so", r.stderr), r.stderr
    assert [e["document_id"] for e in read_envelopes(tmp_path / "out.jsonl")] == ["1"]


def test_version(changecast_bin):
    r = run_cli(changecast_bin, "version")
    assert r.returncode == 0 and r.stderr == ""
    assert re.fullmatch(r"changecast %s \(plugin ABI \d+\.\d+\)\n" % re.escape(project_version()),
                        r.stdout), r.stdout


@pytest.mark.parametrize("args,message", [
    (["frob"], 'changecast: unknown command "frob"'),
    (["check", "extra"], 'changecast: unexpected argument "extra"'),
    (["run", "-c"], "changecast: -c needs a manifest path"),
    (["plugins", "--plugin-dir"], "changecast: --plugin-dir needs a folder"),
    ([], "usage: changecast run   [-c MANIFEST] [-v|-q]   run until SIGINT/SIGTERM; SIGHUP "
         "reopens logs"),
])
def test_usage_errors_exit_2(args, message, changecast_bin, tmp_path):
    r = run_cli(changecast_bin, *args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == message
    assert "usage: changecast" in r.stderr
    assert r.stdout == ""


def test_env_substitution_in_a_real_run(tmp_path, changecast_bin, plugin_dir, gen):
    """${VAR} in plugin config strings and in core strings is replaced by the
    environment variable, in a real run."""
    sub = tmp_path / "data"
    sub.mkdir()
    gen.write_changes(str(sub / "in.jsonl"), 50)
    (tmp_path / "m.json").write_text(json.dumps({
        "plugin_dir": "${CC_IT_PLUGINS}",
        "admin": {"listen": "127.0.0.1:0"},
        "state": {"path": "${CC_IT_DIR}/run.state"},
        "sources": [{"name": "replay", "plugin": "jsonl",
                     "config": {"path": "${CC_IT_DIR}/in.jsonl",
                                "recipient": "fullDocument.${CC_IT_FIELD}"}}],
        "sinks": [{"name": "out", "plugin": "file",
                   "config": {"path": "${CC_IT_DIR}/${CC_IT_OUT}.jsonl"}}]}))
    env = {"CC_IT_PLUGINS": plugin_dir, "CC_IT_DIR": "data", "CC_IT_FIELD": "owner",
           "CC_IT_OUT": "result"}
    r = run_cli(changecast_bin, "check", "-c", "m.json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli(changecast_bin, "run", "-c", "m.json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    got = read_envelopes(sub / "result.jsonl")
    assert [e["data"]["seq"] for e in got] == list(range(50))
    assert [e["recipient"] for e in got] == [gen.owner(k) for k in range(50)]
    assert read_state(sub / "run.state") == (sub / "in.jsonl").stat().st_size
    assert not Path(tmp_path / "${CC_IT_DIR}").exists()


def test_stdin_to_stdout(tmp_path, changecast_bin, plugin_dir, gen):
    """path "-" on both ends: events from stdin, envelopes on stdout, logs
    (only) on stderr; a pipe cannot seek, so no resume on the next run."""
    n = 300
    text = "".join(gen.event_line(k) + "\n" for k in range(n))
    (tmp_path / "m.json").write_text(json.dumps({
        "plugin_dir": plugin_dir, "admin": {"listen": "127.0.0.1:0"},
        "sources": [{"name": "replay", "plugin": "jsonl",
                     "config": {"path": "-", "recipient": "fullDocument.owner"}}],
        "sinks": [{"name": "out", "plugin": "file", "config": {"path": "-"}}]}))
    r = run_cli(changecast_bin, "run", "-c", "m.json", cwd=tmp_path, input=text)
    assert r.returncode == 0, r.stderr
    envs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["data"]["seq"] for e in envs] == list(range(n))
    assert [e["recipient"] for e in envs] == [gen.owner(k) for k in range(n)]
    assert all(line.startswith("ts=") for line in r.stderr.splitlines()), r.stderr
    r = run_cli(changecast_bin, "run", "-c", "m.json", cwd=tmp_path, input=text)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == n


def test_relative_paths_start_at_the_manifest_folder(tmp_path, changecast_bin, plugin_dir, gen):
    """plugin_dir, the source and sink paths and the state path are relative
    to the manifest's folder, not to the working directory."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(plugin_dir, conf / "plugins")
    gen.write_changes(str(conf / "changes.jsonl"), 20)
    (conf / "m.json").write_text(json.dumps({
        "plugin_dir": "plugins", "admin": {"listen": "127.0.0.1:0"},
        "state": {"path": "run.state"},
        "sources": [SRC], "sinks": [SNK]}))
    r = run_cli(changecast_bin, "run", "-c", "../conf/m.json", cwd=tmp_path / "elsewhere")
    assert r.returncode == 0, r.stderr
    assert len(read_envelopes(conf / "out.jsonl")) == 20
    assert read_state(conf / "run.state") == (conf / "changes.jsonl").stat().st_size
    assert os.listdir(tmp_path / "elsewhere") == []


def test_missing_input_file_is_a_runtime_failure(tmp_path, changecast_bin, plugin_dir):
    (tmp_path / "m.json").write_text(manifest(plugin_dir))
    r = run_cli(changecast_bin, "run", "-c", "m.json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert re.search(r"level=error plugin=jsonl name=replay msg=\"cannot open "
                     r"\S*changes\.jsonl: No such file or directory", r.stderr), r.stderr
