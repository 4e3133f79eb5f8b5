"""In-memory storage and the oplog of the MongoDB peer.

Databases hold collections; a collection holds documents in insertion order,
keyed by _id under BSON equality. Every write appends an oplog entry (an
`Entry`) with a cluster time Timestamp(t, i) strictly greater than the last,
from which change-stream events are made. The log keeps the last `history`
entries (None = all); `truncate()` drops them all.

Resume tokens are `{_data: "82" TTTTTTTT IIIIIIII SSSSSSSSSSSSSSSS KK}` in
upper-case hex: cluster time, the entry's sequence number and a kind (00 an
event, 01 the invalidate that follows it, 02 a high-water mark after it), so
tokens sort in stream order as strings, like mongod's.
"""

import asyncio
import struct
import datetime
import time
import uuid

import bson
from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from peer_query import PeerError, copy_doc, id_key

KIND_EVENT, KIND_INVALIDATE, KIND_HWM = 0, 1, 2

HISTORY_LOST = (286, "ChangeStreamHistoryLost")


def history_lost(what):
    return PeerError(286, "ChangeStreamHistoryLost",
                     "Executor error during getMore :: caused by :: Resume of change stream "
                     "was not possible, as the resume point may no longer be in the oplog. "
                     "(%s)" % what)


def make_token(ts, seq, kind):
    return {"_data": "82%08X%08X%016X%02X" % (ts.time, ts.inc, seq, kind)}


def parse_token(tok):
    """(Timestamp, seq, kind) from a resume token; PeerError 260 when malformed."""
    data = tok.get("_data") if isinstance(tok, dict) else None
    if not isinstance(data, str) or len(data) != 36 or not data.startswith("82"):
        raise PeerError(260, "InvalidResumeToken",
                        "Failed to decode resume token: %r" % (tok,))
    try:
        t, i = int(data[2:10], 16), int(data[10:18], 16)
        seq, kind = int(data[18:34], 16), int(data[34:36], 16)
    except ValueError:
        raise PeerError(260, "InvalidResumeToken", "Failed to decode resume token: %r" % (tok,))
    if kind > KIND_HWM:
        raise PeerError(260, "InvalidResumeToken", "Failed to decode resume token: %r" % (tok,))
    return Timestamp(t, i), seq, kind


class Collection:
    def __init__(self, name, options=None):
        self.name = name
        self.docs = {}          # id_key -> document (dict insertion order = storage order)
        self.options = dict(options or {})
        self.indexes = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
        self.uuid = Binary(uuid.uuid4().bytes, 4)

    @property
    def pre_images(self):
        cs = self.options.get("changeStreamPreAndPostImages")
        return isinstance(cs, dict) and bool(cs.get("enabled"))

    def find_id(self, _id):
        return self.docs.get(id_key(_id))


class Entry:
    """One oplog entry: what the change events of one write are made from."""

    __slots__ = ("seq", "ts", "wall", "op", "db", "coll", "to", "key", "full", "upd",
                 "pre", "post", "images", "uuid", "desc", "_base", "_raw")

    def __init__(self, seq, ts, wall, op, db, coll=None):
        self.seq, self.ts, self.wall, self.op = seq, ts, wall, op
        self.db, self.coll = db, coll
        self.to = None          # (db, coll) of a rename
        self.key = None         # the _id of the document written
        self.full = None        # fullDocument of insert/replace
        self.upd = None         # updateDescription of update
        self.pre = None         # pre-image (when the collection records them)
        self.post = None        # post-image of an update (same)
        self.images = False     # pre/post images were recorded for this write
        self.uuid = None        # collectionUUID (shown with showExpandedEvents)
        self.desc = None        # operationDescription (the same)
        self._base = None
        self._raw = None

    def token(self, kind=KIND_EVENT):
        return make_token(self.ts, self.seq, kind)

    def base(self):
        """The event as every stream with default options sees it (cached)."""
        if self._base is None:
            ev = {"_id": self.token(), "operationType": self.op, "clusterTime": self.ts,
                  "wallTime": self.wall}
            if self.op in ("insert", "replace"):
                ev["fullDocument"] = self.full
            if self.coll is not None:
                ev["ns"] = {"db": self.db, "coll": self.coll}
            else:
                ev["ns"] = {"db": self.db}
            if self.key is not None:
                ev["documentKey"] = {"_id": self.key}
            if self.upd is not None:
                ev["updateDescription"] = self.upd
            if self.to is not None:
                ev["to"] = {"db": self.to[0], "coll": self.to[1]}
            self._base = ev
        return self._base

    def raw(self):
        """base() encoded once (shared by every stream that sends it as is)."""
        if self._raw is None:
            self._raw = RawBSONDocument(bson.encode(self.base()))
        return self._raw


class Store:
    def __init__(self, history=None):
        self.dbs = {}           # name -> {coll name -> Collection}
        self.history = history
        self.log = []           # kept entries, oldest first
        self.base_seq = 1       # seq of log[0] (or of the next entry when empty)
        self.last_seq = 0
        self.dropped_ts = None  # cluster time of the newest entry dropped from the log
        self.start_ts = Timestamp(int(time.time()), 0)
        self.last_ts = self.start_ts
        self.changed = asyncio.Event()

    # --- time -------------------------------------------------------------
    def next_ts(self):
        now = int(time.time())
        if now > self.last_ts.time:
            self.last_ts = Timestamp(now, 1)
        else:
            self.last_ts = Timestamp(self.last_ts.time, self.last_ts.inc + 1)
        return self.last_ts

    def cluster_time(self):
        return self.last_ts

    # --- namespaces ------------------------------------------------------------
    def coll(self, db, name, create=False):
        colls = self.dbs.get(db)
        if colls is None:
            if not create:
                return None
            colls = self.dbs[db] = {}
        c = colls.get(name)
        if c is None and create:
            c = colls[name] = Collection(name)
        return c

    # --- the log ------------------------------------------------------------
    def append(self, op, db, coll=None):
        """A new entry at the end of the log (the caller fills in the rest)."""
        self.last_seq += 1
        ts = self.next_ts()
        wall = datetime.datetime.utcfromtimestamp(time.time())
        wall = wall.replace(microsecond=wall.microsecond // 1000 * 1000)
        e = Entry(self.last_seq, ts, wall, op, db, coll)
        c = self.coll(db, coll) if coll is not None else None
        if c is not None:
            e.uuid = c.uuid
        self.log.append(e)
        if self.history is not None and len(self.log) > self.history:
            drop = len(self.log) - self.history
            self.dropped_ts = self.log[drop - 1].ts
            del self.log[:drop]
            self.base_seq += drop
        return e

    def notify(self):
        """Wakes every parked getMore (call once per command, after its writes)."""
        self.changed.set()
        self.changed = asyncio.Event()

    def truncate(self):
        if self.log:
            self.dropped_ts = self.log[-1].ts
        self.log = []
        self.base_seq = self.last_seq + 1

    def entry(self, seq):
        i = seq - self.base_seq
        if 0 <= i < len(self.log):
            return self.log[i]
        return None

    def resume_seq(self, token, start_after):
        """The seq a stream resuming from token starts at (the next entry)."""
        ts, seq, kind = parse_token(token)
        if kind == KIND_INVALIDATE and not start_after:
            raise PeerError(260, "InvalidResumeToken",
                            "Attempting to resume a change stream using 'resumeAfter' is not "
                            "allowed from an invalidate notification.")
        if seq == 0 and kind == KIND_HWM:
            if self.base_seq != 1 or ts.time < self.start_ts.time:
                raise history_lost("resume token from before the kept history")
            return 1
        if seq > self.last_seq:
            raise history_lost("resume token %s was not issued by this server" % token["_data"])
        e = self.entry(seq)
        if e is None:
            raise history_lost("resume token %s is older than the kept history" % token["_data"])
        if e.ts != ts:
            raise history_lost("resume token %s was not issued by this server" % token["_data"])
        return seq + 1

    def seq_at_time(self, ts):
        """The first seq at or after cluster time ts (startAtOperationTime)."""
        if self.dropped_ts is not None and (ts.time, ts.inc) <= (self.dropped_ts.time,
                                                                  self.dropped_ts.inc):
            raise history_lost("startAtOperationTime %r is older than the kept history" % ts)
        for e in self.log:
            if (e.ts.time, e.ts.inc) >= (ts.time, ts.inc):
                return e.seq
        return self.last_seq + 1

    def oplog(self):
        """local.oplog.rs as mongod shows it: one entry per kept event (a
        no-op at the current time when none is kept), oldest first."""
        ops = {"insert": "i", "update": "u", "replace": "u", "delete": "d"}
        out = []
        for e in self.log:
            op = ops.get(e.op, "c")
            ent = {"op": op, "ns": "%s.%s" % (e.db, e.coll) if e.coll else e.db + ".$cmd",
                   "o": {"_id": e.key} if e.key is not None else {e.op: e.coll or 1},
                   "ts": e.ts, "t": Int64(1), "v": Int64(2), "wall": e.wall}
            out.append(ent)
        if not out:
            out.append({"op": "n", "ns": "", "o": {"msg": "mongo_peer: no history kept"},
                        "ts": self.last_ts, "t": Int64(1), "v": Int64(2),
                        "wall": datetime.datetime.utcnow().replace(microsecond=0)})
        return out

    # --- fast load for benchmarks -----------------------------------------------
    def load(self, db, coll, count, size):
        """Appends `count` inserts of {_id: n, pad: 'x' * size} in one go, each
        event encoded from one template (patched in place): the benchmark path."""
        c = self.coll(db, coll, create=True)
        pad = "x" * size
        first = len(c.docs)
        wall = datetime.datetime.utcfromtimestamp(time.time())
        wall = wall.replace(microsecond=wall.microsecond // 1000 * 1000)
        tmpl, spots = _load_template(db, coll, pad, wall)
        pack_ts = struct.Struct("<II").pack
        pack_id = struct.Struct("<q").pack
        t = max(int(time.time()), self.last_ts.time)
        i = self.last_ts.inc if t == self.last_ts.time else 0
        for n in range(first, first + count):
            _id = Int64(n)
            doc = {"_id": _id, "pad": pad}
            c.docs[("n", _id)] = doc        # id_key() of an Int64
            self.last_seq += 1
            i += 1
            ts = Timestamp(t, i)
            e = Entry(self.last_seq, ts, wall, "insert", db, coll)
            e.key, e.full, e.uuid = _id, doc, c.uuid
            buf = bytearray(tmpl)
            buf[spots[0]:spots[0] + 36] = ("82%08X%08X%016X00" % (t, i, e.seq)).encode()
            buf[spots[1]:spots[1] + 8] = pack_ts(i, t)
            idb = pack_id(n)
            for off in spots[2:]:
                buf[off:off + 8] = idb
            e._raw = RawBSONDocument(bytes(buf))
            self.log.append(e)
        self.last_ts = Timestamp(t, i)
        if self.history is not None and len(self.log) > self.history:
            drop = len(self.log) - self.history
            self.dropped_ts = self.log[drop - 1].ts
            del self.log[:drop]
            self.base_seq += drop
        return count


_TOKEN_MARK = "82" + "A5" * 17
_TS_MARK = Timestamp(0x5A5A5A5A, 0x5B5B5B5B)
_ID_MARK = Int64(0x1122334455667788)


def _load_template(db, coll, pad, wall):
    """An insert event encoded with marker values, and where the markers are."""
    ev = {"_id": {"_data": _TOKEN_MARK}, "operationType": "insert", "clusterTime": _TS_MARK,
          "wallTime": wall,
          "fullDocument": {"_id": _ID_MARK, "pad": pad}, "ns": {"db": db, "coll": coll},
          "documentKey": {"_id": _ID_MARK}}
    raw = bson.encode(ev)
    tok = raw.index(_TOKEN_MARK.encode())
    ts = raw.index(struct.pack("<II", _TS_MARK.inc, _TS_MARK.time))
    idm = struct.pack("<q", _ID_MARK)
    first = raw.index(idm)
    second = raw.index(idm, first + 8)
    return raw, (tok, ts, first, second)


def new_id():
    return ObjectId()


def snapshot(doc):
    return copy_doc(doc)
