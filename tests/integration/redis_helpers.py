"""A throwaway redis-server for the redis tests (tests/integration/test_redis.py)
and the benchmark: loopback port chosen free, its own folder, killed at the
end whatever happens.

    srv = RedisServer(tmp_path / "redis", password=None, appendonly=False)
    srv.start(); srv.client(); srv.kill(); srv.start()   # same port and folder
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cchelpers import poll

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_redis():
    return Path(REDIS_SERVER).exists()


class RedisServer:
    def __init__(self, folder, password=None, appendonly=False, port=None, unixsocket=False):
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password = password
        self.appendonly = appendonly
        self.proc = None
        self._log = None
        self.socket = str(self.dir / "redis.sock") if unixsocket else None

    @property
    def uri(self):
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d/0" % (auth, self.port)

    def start(self, seconds=30):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--daemonize", "no",
                "--protected-mode", "no", "--loglevel", "warning"]
        if self.appendonly:
            # fsync every write: a SIGKILL loses nothing Redis acknowledged.
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.socket:
            args += ["--unixsocket", self.socket, "--unixsocketperm", "700"]
        self._log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                pytest.fail("redis-server exited: %s" % (self.dir / "redis.log").read_text())
            try:
                return self.client().ping()
            except Exception:  # noqa: BLE001 - not up yet
                return False
        poll(up, seconds, "redis-server on port %d" % self.port, interval=0.05)
        return self

    def client(self):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=10)

    def kill(self):
        """SIGKILL: as a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self._log:
            self._log.close()
            self._log = None

    def stop(self):
        self.kill()


@pytest.fixture
def redis_server(tmp_path):
    """redis_server(**kw) starts a RedisServer; every one is killed at the end."""
    if not have_redis():
        pytest.skip("redis-server is not installed (scripts/deps.sh test)")
    started = []

    def make(**kw):
        s = RedisServer(tmp_path / ("redis%d" % len(started)), **kw)
        started.append(s)
        return s.start()
    yield make
    for s in started:
        s.kill()


class Subscriber:
    """PSUBSCRIBE in a background thread, collecting (channel, payload)."""

    def __init__(self, server, pattern="mongo_change:*"):
        import threading
        self.messages = []
        self._ps = server.client().pubsub()
        self._ps.psubscribe(pattern)
        # Wait for the subscription's confirmation before anyone publishes.
        poll(lambda: self._ps.get_message(timeout=0.1) is not None, 30, "psubscribe confirmed")
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            m = self._ps.get_message(timeout=0.2)
            if m and m["type"] == "pmessage":
                self.messages.append((m["channel"].decode(), m["data"]))

    def close(self):
        self._stop = True
        self._t.join(timeout=10)
        self._ps.close()


def wait_for(seconds, what, cond):
    return poll(cond, seconds, what, interval=0.05)


def now():
    return time.monotonic()
