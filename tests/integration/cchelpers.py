"""Helpers and fixtures for the changecast integration suite.

The suite runs the real daemon binary against real plugin modules. meson test
passes their locations in the environment:

    CHANGECAST_BIN          the changecast executable
    CHANGECAST_PLUGINS      the build's plugin folder (jsonl.so, file.so, ...)
    CHANGECAST_BUILD_ROOT   the build directory (for `meson install`)
    CHANGECAST_SOURCE_ROOT  the source tree (for sdk/examples)

Run by hand: CHANGECAST_BUILD_ROOT=build /usr/bin/python3 -m pytest tests/integration
(the other three are derived from it and from this file's location).

Every daemon a test starts is a `Daemon`: its stdout and stderr go to files in
the test's tmp dir (no pipe can fill up and stall it), and a finalizer kills
it if the test did not stop it. Waits poll a condition against a deadline;
nothing asserts after a fixed sleep. Deadlines are generous (the binary may be
built with AddressSanitizer) and scaled by $CHANGECAST_TIMEOUT_SCALE.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen_changes  # noqa: E402  (the generator lives beside this file)

SOURCE_ROOT = Path(os.environ.get("CHANGECAST_SOURCE_ROOT", HERE.parent.parent)).resolve()
_build_root = os.environ.get("CHANGECAST_BUILD_ROOT")
BUILD_ROOT = Path(_build_root).resolve() if _build_root else None
_bin = os.environ.get("CHANGECAST_BIN") or (str(BUILD_ROOT / "core" / "changecast")
                                             if BUILD_ROOT else None)
_plugins = os.environ.get("CHANGECAST_PLUGINS") or (str(BUILD_ROOT / "plugins")
                                                     if BUILD_ROOT else None)
SANITIZER = re.compile(r"^(==\d+==ERROR: \w+Sanitizer|.*: runtime error: |"
                       r"SUMMARY: \w+Sanitizer)", re.M)
SCALE = float(os.environ.get("CHANGECAST_TIMEOUT_SCALE", "1"))


def timeout(seconds):
    return seconds * SCALE


def poll(cond, seconds, what, interval=0.02):
    """Calls cond() until it returns a true value (returned) or `seconds`
    (scaled) pass, then fails naming `what`."""
    deadline = time.monotonic() + timeout(seconds)
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.0f s waiting for %s" % (timeout(seconds), what))
        time.sleep(interval)


@pytest.fixture(scope="session")
def changecast_bin():
    if not _bin or not os.access(_bin, os.X_OK):
        pytest.fail("set CHANGECAST_BIN (or CHANGECAST_BUILD_ROOT) to the changecast binary; "
                    "got %r" % _bin)
    return _bin


@pytest.fixture(scope="session")
def plugin_dir():
    if not _plugins or not os.path.isfile(os.path.join(_plugins, "jsonl.so")):
        pytest.fail("set CHANGECAST_PLUGINS (or CHANGECAST_BUILD_ROOT) to the build's plugin "
                    "folder; got %r" % _plugins)
    return _plugins


@pytest.fixture(scope="session")
def build_root():
    if BUILD_ROOT is None or not (BUILD_ROOT / "build.ninja").exists():
        pytest.fail("set CHANGECAST_BUILD_ROOT to the meson build directory; got %r" % BUILD_ROOT)
    return BUILD_ROOT


def run_cli(binary, *args, cwd=None, env=None, seconds=60, input=None):
    """Runs a short changecast command (stdin from `input`, else empty);
    returns CompletedProcess (text)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([binary, *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=timeout(seconds), input=input or "")


class Daemon:
    """One `changecast run` process, logging to files in `workdir`."""

    _count = 0

    def __init__(self, binary, manifest, workdir, env=None, args=(), preexec_fn=None):
        Daemon._count += 1
        self.workdir = Path(workdir)
        tag = "daemon%d" % Daemon._count
        self.stdout_path = self.workdir / (tag + ".stdout")
        self.stderr_path = self.workdir / (tag + ".stderr")
        e = dict(os.environ)
        if env:
            e.update(env)
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([binary, "run", "-c", str(manifest), *args],
                                     cwd=str(self.workdir), env=e, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     preexec_fn=preexec_fn)
        self._port = None

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def running(self):
        return self.proc.poll() is None

    def wait_log(self, pattern, seconds=60):
        """Waits for a stderr line matching the regex; returns the match."""
        rx = re.compile(pattern)

        def found():
            m = rx.search(self.stderr())
            if m:
                return m
            if not self.running():
                # One last look: the line may have been written just before exit.
                m = rx.search(self.stderr())
                if m:
                    return m
                pytest.fail("daemon exited (status %s) before logging /%s/; stderr:\n%s"
                            % (self.proc.returncode, pattern, self.stderr()[-4000:]))
            return None
        return poll(found, seconds, "log line /%s/" % pattern)

    def admin_port(self, seconds=60):
        if self._port is None:
            m = self.wait_log(r"admin on port (\d+)", seconds)
            self._port = int(m.group(1))
        return self._port

    def http_get(self, path, seconds=30):
        """GET http://127.0.0.1:<admin port><path>; returns (status, headers, body text)."""
        url = "http://127.0.0.1:%d%s" % (self.admin_port(), path)
        try:
            with urllib.request.urlopen(url, timeout=timeout(seconds)) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, seconds=120):
        """Waits for exit; returns the status (fails the test on timeout)."""
        try:
            return self.proc.wait(timeout=timeout(seconds))
        except subprocess.TimeoutExpired:
            pytest.fail("daemon still running after %.0f s; stderr:\n%s"
                        % (timeout(seconds), self.stderr()[-4000:]))

    def stop(self, seconds=120):
        """SIGTERM, then wait; returns the exit status."""
        if self.running():
            self.signal(signal.SIGTERM)
        return self.wait(seconds)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for f in (self._out, self._err):
            if not f.closed:
                f.close()


@pytest.fixture
def daemon(request, changecast_bin):
    """daemon(manifest_path, workdir, env=None) starts a daemon that is killed
    at the end of the test whatever happens."""
    started = []

    def start(manifest, workdir=None, env=None, args=(), preexec_fn=None):
        workdir = Path(workdir or Path(manifest).parent)
        d = Daemon(changecast_bin, manifest, workdir, env=env, args=args, preexec_fn=preexec_fn)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()
    # A sanitizer report fails the test even when the exit status hid it
    # (UBSan without halt_on_error, a report from a killed daemon).
    for d in started:
        err = d.stderr()
        m = SANITIZER.search(err)
        if m:
            pytest.fail("sanitizer report in %s:\n%s" % (d.stderr_path, err[m.start():][:6000]))


def write_manifest(path, plugin_dir, sources, sinks, **extra):
    """Writes a manifest with an admin listener on a kernel-chosen port and a
    state file beside it; returns the path."""
    m = {"plugin_dir": plugin_dir,
         "admin": {"listen": "127.0.0.1:0"},
         "state": {"path": "changecast.state"}}
    m.update(extra)
    m["sources"] = sources
    m["sinks"] = sinks
    Path(path).write_text(json.dumps(m, indent=2))
    return Path(path)


def replay_manifest(workdir, plugin_dir, source_config=None, sink_config=None, name="m.json",
                    **extra):
    """The usual replay: source "replay" (jsonl, changes.jsonl, recipient
    fullDocument.owner) to sink "out" (file, out.jsonl)."""
    src = {"path": "changes.jsonl", "recipient": "fullDocument.owner"}
    src.update(source_config or {})
    snk = {"path": "out.jsonl"}
    snk.update(sink_config or {})
    return write_manifest(Path(workdir) / name, plugin_dir,
                          [{"name": "replay", "plugin": "jsonl", "config": src}],
                          [{"name": "out", "plugin": "file", "config": snk}], **extra)


def read_state(path):
    """The saved position of source "replay" in a state file, as an int."""
    doc = json.loads(Path(path).read_text())
    return int(doc["sources"]["replay"]["position"])


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def read_envelopes(path, start=0):
    """Parses the JSON lines of `path` from byte `start`; fails on a bad or
    cut line."""
    out = []
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    if data and not data.endswith(b"\n"):
        pytest.fail("%s does not end with a newline (a line was cut short)" % path)
    for n, line in enumerate(data.split(b"\n")[:-1] if data else [], 1):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            pytest.fail("%s: line %d (from byte %d) is not JSON: %s: %r"
                        % (path, n, start, e, line[:200]))
    return out


def seq_of(env):
    return env["data"]["seq"]


def line_ends(path):
    """Byte offset just past each line of a file (the jsonl positions)."""
    ends, pos = [], 0
    with open(path, "rb") as f:
        for line in f:
            pos += len(line)
            ends.append(pos)
    return ends


@pytest.fixture
def gen():
    return gen_changes
