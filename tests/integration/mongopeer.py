"""The MongoDB peer (tests/peers/mongo_peer.py) as a test fixture.

    from mongopeer import MongoPeer, mongo_peer   # mongo_peer: pytest fixture

    peer = MongoPeer(tmp_path, port=None, set_name="rs0", history=None)
    peer.start()            # returns once the peer answers a ping
    peer.uri                # mongodb://127.0.0.1:PORT/?replicaSet=rs0&serverSelectionTimeoutMS=...
    peer.client()           # a pymongo.MongoClient (cached; closed at stop)
    peer.fail_point(mode, data)   # configureFailPoint failCommand
    peer.fail_point_hits()  # how often it fired since
    peer.truncate_history() # drop every kept change event (resumes then fail with 286)
    peer.restart()          # same port, empty data
    peer.stop(); peer.kill()

The peer's stderr goes to mongo_peer<N>.log in the given folder. `port` may
be given to bring a peer up later on a port a daemon already points at (see
free_port()).
"""

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cchelpers import timeout

PEER = Path(__file__).resolve().parent.parent / "peers" / "mongo_peer.py"


def free_port():
    """A TCP port nothing listens on right now (for a peer started later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MongoPeer:
    _count = 0

    def __init__(self, workdir, port=None, set_name="rs0", history=None):
        self.workdir = Path(workdir)
        self.port = port
        self.set_name = set_name
        self.history = history
        self.proc = None
        self._client = None
        self._log = None

    @property
    def uri(self):
        if self.port is None:
            raise RuntimeError("MongoPeer: no port yet (start() it or pass port=)")
        return ("mongodb://127.0.0.1:%d/?replicaSet=%s&serverSelectionTimeoutMS=%d"
                % (self.port, self.set_name, int(timeout(10) * 1000)))

    def start(self):
        if self.proc is not None:
            raise RuntimeError("MongoPeer: already started")
        MongoPeer._count += 1
        port_file = self.workdir / ("mongo_peer%d.port" % MongoPeer._count)
        if port_file.exists():
            port_file.unlink()
        self._log = open(self.workdir / ("mongo_peer%d.log" % MongoPeer._count), "wb")
        args = ["/usr/bin/python3", str(PEER), "--port", str(self.port or 0),
                "--port-file", str(port_file), "--set-name", self.set_name]
        if self.history is not None:
            args += ["--history", str(self.history)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._log)
        deadline = time.monotonic() + timeout(20)
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError("mongo_peer exited with %s; log:\n%s"
                                   % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise RuntimeError("mongo_peer did not start; log:\n%s" % self.log())
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        while True:
            try:
                self.command("ping")
                return self
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def log(self):
        for p in sorted(self.workdir.glob("mongo_peer*.log")):
            if self._log is not None and p.name == Path(self._log.name).name:
                return p.read_text(errors="replace")
        return ""

    def client(self):
        if self._client is None:
            import pymongo
            self._client = pymongo.MongoClient(self.uri)
        return self._client

    def command(self, *args, **kwargs):
        return self.client().admin.command(*args, **kwargs)

    def fail_point(self, mode, data):
        return self.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})

    def fail_point_hits(self):
        """How often failCommand fired since it was last configured."""
        return self.command("peerFailPointStatus")["failCommand"]["hits"]

    def truncate_history(self):
        return self.command("peerTruncateHistory")

    def load(self, ns, count, size=0):
        """Appends `count` insert events to ns ("db.coll") at once (benchmarks)."""
        return self.command({"peerLoad": ns, "count": count, "size": size})

    def _close_client(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def _reap(self, seconds):
        try:
            self.proc.wait(timeout(seconds))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()

    def stop(self):
        self._close_client()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            self._reap(10)

    def kill(self):
        self._close_client()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self._reap(10)

    def restart(self):
        """Stops and starts again on the same port (the data is lost)."""
        self.stop()
        return self.start()


@pytest.fixture
def mongo_peer(tmp_path):
    peer = MongoPeer(tmp_path)
    peer.start()
    yield peer
    peer.stop()


__all__ = ["MongoPeer", "mongo_peer", "free_port"]
