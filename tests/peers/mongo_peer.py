#!/usr/bin/python3
"""A MongoDB wire-protocol peer that behaves like a single-node replica-set
primary, for tests on machines where mongod cannot be installed.

    /usr/bin/python3 tests/peers/mongo_peer.py --port 0 [--host 127.0.0.1]
        [--port-file F] [--set-name rs0] [--history N]

Prints the bound port on stdout (and writes it to --port-file) once it
listens; logs to stderr; SIGTERM or SIGINT stop it. See tests/peers/README.md
for what it implements, the peer-only commands (peerLoad,
peerTruncateHistory) and the fault injection (configureFailPoint failCommand).

Wire protocol: OP_MSG (body and document-sequence sections, checksum flag
tolerated, moreToCome honoured) and OP_QUERY for the first hello; replies in
kind. No compression, no topologyVersion (so no exhaust hellos).
"""

import argparse
import asyncio
import gc
import os
import signal
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bson  # noqa: E402
from bson.binary import UuidRepresentation  # noqa: E402
from bson.codec_options import CodecOptions  # noqa: E402
from bson.errors import InvalidBSON  # noqa: E402
from bson.raw_bson import RawBSONDocument  # noqa: E402

from peer_commands import Commands  # noqa: E402
from peer_query import PeerError  # noqa: E402
from peer_store import Store  # noqa: E402

OP_REPLY, OP_QUERY, OP_MSG, OP_COMPRESSED = 1, 2004, 2013, 2012
MSG_CHECKSUM, MSG_MORE_TO_COME = 1, 2
MAX_MESSAGE = 48 * 1000 * 1000
CODEC = CodecOptions(uuid_representation=UuidRepresentation.UNSPECIFIED)
HEADER = struct.Struct("<iiii")


def log(fmt, *args):
    sys.stderr.write("mongo_peer: " + (fmt % args if args else fmt) + "\n")
    sys.stderr.flush()


class Connection:
    """One client connection: reads messages in order, answers each."""

    count = 0

    def __init__(self, server, reader, writer):
        Connection.count += 1
        self.id = Connection.count
        self.server = server
        self.reader = reader
        self.writer = writer
        self.app_name = None
        self.next_request = 1

    async def serve(self):
        try:
            while True:
                head = await self.reader.readexactly(16)
                length, req_id, _, opcode = HEADER.unpack(head)
                if length < 16 or length > MAX_MESSAGE:
                    log("conn %d: bad message length %d; closing", self.id, length)
                    break
                body = await self.reader.readexactly(length - 16)
                if not await self.handle(req_id, opcode, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (InvalidBSON, struct.error, ValueError, IndexError, UnicodeDecodeError,
                PeerError) as exc:
            # Like mongod: a message that does not parse ends that connection.
            log("conn %d: malformed message (%s: %s); closing", self.id,
                type(exc).__name__, exc)
        except Exception as exc:  # a peer bug must not take the whole peer down
            log("conn %d: internal error: %r", self.id, exc)
            import traceback
            traceback.print_exc()
        finally:
            self.writer.transport.abort()

    async def handle(self, req_id, opcode, body):
        if opcode == OP_MSG:
            flags = struct.unpack_from("<I", body)[0]
            end = len(body) - (4 if flags & MSG_CHECKSUM else 0)
            cmd = self.parse_msg(body, 4, end)
            reply = await self.server.commands.run(cmd, self)
            if reply is None:  # closeConnection fault
                return False
            if not flags & MSG_MORE_TO_COME:
                self.send_msg(req_id, reply)
            return True
        if opcode == OP_QUERY:
            flags = struct.unpack_from("<i", body)[0]
            del flags
            nul = body.index(b"\0", 4)
            ns = body[4:nul].decode()
            off = nul + 1 + 8
            size = struct.unpack_from("<i", body, off)[0]
            query = bson.decode(body[off:off + size], CODEC)
            if "$query" in query:
                query = query["$query"]
            if not ns.endswith(".$cmd"):
                reply = {"ok": 0, "errmsg": "OP_QUERY is only supported for commands",
                         "code": 352, "codeName": "UnsupportedOpQueryCommand"}
            else:
                query["$db"] = ns[:-5]
                reply = await self.server.commands.run(query, self)
                if reply is None:
                    return False
            self.send_reply(req_id, reply)
            return True
        log("conn %d: unsupported opcode %d; closing", self.id, opcode)
        return False

    def parse_msg(self, body, off, end):
        cmd = None
        seqs = {}
        while off < end:
            kind = body[off]
            off += 1
            if kind == 0:
                size = struct.unpack_from("<i", body, off)[0]
                cmd = bson.decode(body[off:off + size], CODEC)
                off += size
            elif kind == 1:
                size = struct.unpack_from("<i", body, off)[0]
                sec_end = off + size
                nul = body.index(b"\0", off + 4)
                ident = body[off + 4:nul].decode()
                p = nul + 1
                docs = []
                while p < sec_end:
                    dsize = struct.unpack_from("<i", body, p)[0]
                    docs.append(bson.decode(body[p:p + dsize], CODEC))
                    p += dsize
                seqs.setdefault(ident, []).extend(docs)
                off = sec_end
            else:
                raise PeerError(40432, "Location40432", "Unknown section kind %d" % kind)
        if cmd is None:
            cmd = {}
        for k, v in seqs.items():
            cmd[k] = v
        return cmd

    def _send(self, response_to, opcode, payload):
        self.next_request += 1
        head = HEADER.pack(16 + len(payload), self.next_request, response_to, opcode)
        self.writer.write(head + payload)

    def send_msg(self, response_to, reply):
        self._send(response_to, OP_MSG, b"\0\0\0\0\0" + encode(reply))

    def send_reply(self, response_to, reply):
        self._send(response_to, OP_REPLY, struct.pack("<iqii", 8, 0, 0, 1) + encode(reply))


def encode(doc):
    if isinstance(doc, RawBSONDocument):
        return doc.raw
    return bson.encode(doc, codec_options=CODEC)


class Server:
    def __init__(self, host, port, set_name, history):
        self.host = host
        self.port = port
        self.set_name = set_name
        self.store = Store(history)
        self.commands = Commands(self)
        self.conns = set()

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    async def accept(self, reader, writer):
        conn = Connection(self, reader, writer)
        task = asyncio.current_task()
        self.conns.add(task)
        try:
            await conn.serve()
        finally:
            self.conns.discard(task)


async def main_async(args):
    server = Server(args.host, args.port, args.set_name, args.history)
    srv = await asyncio.start_server(server.accept, args.host, args.port, reuse_address=True)
    server.port = srv.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.port)
        os.replace(tmp, args.port_file)
    print(server.port, flush=True)
    log("listening on %s (replica set %s, history %s)", server.address, args.set_name,
        "unlimited" if args.history is None else args.history)
    await stop.wait()
    srv.close()
    for t in list(server.conns):
        t.cancel()
    await srv.wait_closed()
    log("stopped")


def main():
    # The store holds many small objects and makes few cycles: the default
    # thresholds run full collections over all of it every few thousand
    # writes, pauses of up to a second that make benchmarks measure the
    # collector rather than the clients.
    gc.set_threshold(100000, 100, 100000)
    ap = argparse.ArgumentParser(description="MongoDB wire-protocol peer for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=27017)
    ap.add_argument("--port-file")
    ap.add_argument("--set-name", default="rs0")
    ap.add_argument("--history", type=int, default=None,
                    help="keep only the last N change events (default: all)")
    args = ap.parse_args()
    if args.history is not None and args.history < 0:
        ap.error("--history must be >= 0")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

