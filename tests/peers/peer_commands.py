"""The commands the MongoDB peer answers, and its failCommand fail point.

Commands.run(cmd, conn) returns the reply document, or None when a fail point
says to hang up. Replies carry operationTime and $clusterTime like a replica
set member's; failures are {ok: 0, errmsg, code, codeName[, errorLabels]}.
"""

import asyncio
import datetime
import random
import time

import bson
from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId

from peer_query import (PeerError, apply_update, check_replacement, copy_doc, diff_docs,
                        equal, evaluate, get_path, id_key, is_update_doc, match, project,
                        sort_docs, truthy, upsert_seed, MISSING)
from peer_streams import ChangeStream, check_pipeline, _stage

# Errors after which a change stream may resume (mongod labels a getMore
# failure with ResumableChangeStreamError when it is one of these).
RESUMABLE = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150,
             13388, 234, 133}
RETRYABLE_WRITE = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
WRITE_COMMANDS = ("insert", "update", "delete", "findAndModify")
CODE_NAMES = {6: "HostUnreachable", 7: "HostNotFound", 43: "CursorNotFound",
              89: "NetworkTimeout", 91: "ShutdownInProgress", 189: "PrimarySteppedDown",
              262: "ExceededTimeLimit", 9001: "SocketException", 10107: "NotWritablePrimary",
              11600: "InterruptedAtShutdown", 11602: "InterruptedDueToReplStateChange",
              13435: "NotPrimaryNoSecondaryOk", 13436: "NotPrimaryOrSecondary",
              63: "StaleShardVersion", 150: "StaleEpoch", 13388: "StaleConfig",
              234: "RetryChangeStream", 133: "FailedToSatisfyReadPreference",
              286: "ChangeStreamHistoryLost", 280: "ChangeStreamFatalError",
              11000: "DuplicateKey", 2: "BadValue", 8: "UnknownError", 216: "ElectionInProgress",
              50: "MaxTimeMSExpired", 237: "CursorKilled", 175: "QueryPlanKilled",
              11601: "Interrupted", 96: "OperationFailed", 112: "WriteConflict"}
SESSION_FIELDS = ("$db", "lsid", "$clusterTime", "txnNumber", "autocommit", "startTransaction",
                  "writeConcern", "readConcern", "$readPreference", "comment", "apiVersion",
                  "apiStrict", "apiDeprecationErrors", "maxTimeMS")


def ns_split(ns):
    db, _, coll = ns.partition(".")
    return db, coll


def coll_name(cmd, name):
    v = cmd[name]
    if not isinstance(v, str) or not v:
        raise PeerError(73, "InvalidNamespace",
                        "collection name has invalid type %s" % type(v).__name__)
    return v


class ListCursor:
    def __init__(self, cursor_id, ns, docs):
        self.id = cursor_id
        self.ns = ns
        self.docs = docs
        self.pos = 0

    def take(self, n):
        out = self.docs[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    @property
    def exhausted(self):
        return self.pos >= len(self.docs)


class Commands:
    def __init__(self, server):
        self.server = server
        self.store = server.store
        self.cursors = {}
        self.next_cursor = random.randint(1 << 40, 1 << 50)
        self.fail = None            # failCommand: {"data": ..., "left": n or None}
        self.fail_getmore = None    # failGetMoreAfterCursorCheckout: the same
        self.fail_hits = {"fail": 0, "fail_getmore": 0}   # times each fired since set
        self.handlers = {}
        for name in dir(self):
            if name.startswith("cmd_"):
                self.handlers[name[4:]] = getattr(self, name)
        self.handlers["isMaster"] = self.handlers["ismaster"] = self.cmd_hello
        self.handlers["findandmodify"] = self.cmd_findAndModify

    # --- dispatch ------------------------------------------------------------
    async def run(self, cmd, conn):
        if not cmd:
            return self.error(PeerError(2, "BadValue", "empty command"))
        name = next(iter(cmd))
        db = cmd.get("$db", "admin")
        fp = self.fail_point(name, conn)
        if fp is not None:
            data = fp["data"]
            if truthy(data.get("blockConnection")):
                await asyncio.sleep(float(data.get("blockTimeMS", 0)) / 1000.0)
            if truthy(data.get("closeConnection")):
                return None
            if "errorCode" in data:
                code = int(data["errorCode"])
                # failCommand labels errors only as told (like mongod), but a
                # retryable write still gets RetryableWriteError.
                labels = data.get("errorLabels")
                if labels is None:
                    labels = self.labels_for(name, cmd, code) if name != "getMore" else []
                reply = {"ok": 0.0, "errmsg": "Failing command via 'failCommand' failpoint",
                         "code": code, "codeName": CODE_NAMES.get(code, "Location%d" % code)}
                if labels:
                    reply["errorLabels"] = list(labels)
                return self.stamp(reply)
        handler = self.handlers.get(name)
        try:
            if name == "getMore" and self.fail_getmore is not None:
                self.getmore_fail_point()
            if handler is None:
                raise PeerError(59, "CommandNotFound", "no such command: '%s'" % name)
            reply = handler(cmd, db, conn)
            if asyncio.iscoroutine(reply):
                reply = await reply
        except PeerError as e:
            if not e.labels:
                e.labels = self.labels_for(name, cmd, e.code)
            reply = self.error(e)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            reply = self.error(PeerError(9, "FailedToParse", "%s: bad command (%s: %s)"
                                         % (name, type(e).__name__, e)))
        if fp is not None and "writeConcernError" in fp["data"]:
            reply["writeConcernError"] = fp["data"]["writeConcernError"]
        return self.stamp(reply)

    def getmore_fail_point(self):
        """failGetMoreAfterCursorCheckout: the getMore fails as a real error would."""
        fp = self.fail_getmore
        self.fail_hits["fail_getmore"] += 1
        if fp["left"] is not None:
            fp["left"] -= 1
            if fp["left"] <= 0:
                self.fail_getmore = None
        code = int(fp["data"].get("errorCode", 8))
        raise PeerError(code, CODE_NAMES.get(code, "Location%d" % code),
                        "Failing getMore via 'failGetMoreAfterCursorCheckout' failpoint")

    def labels_for(self, name, cmd, code):
        if code in (280, 286) and name in ("getMore", "aggregate"):
            return ["NonResumableChangeStreamError"]
        if name == "getMore" and code in RESUMABLE:
            cur = self.cursors.get(cmd.get("getMore"))
            if cur is None or isinstance(cur, ChangeStream):
                return ["ResumableChangeStreamError"]
        if name in WRITE_COMMANDS and "txnNumber" in cmd and code in RETRYABLE_WRITE:
            return ["RetryableWriteError"]
        return []

    def fail_point(self, name, conn):
        fp = self.fail
        if fp is None or name == "configureFailPoint":
            return None
        data = fp["data"]
        if name not in data.get("failCommands", []):
            return None
        app = data.get("appName")
        if app is not None and app != conn.app_name:
            return None
        self.fail_hits["fail"] += 1
        if fp["left"] is not None:
            fp["left"] -= 1
            if fp["left"] <= 0:
                self.fail = None
        return fp

    def error(self, e):
        reply = {"ok": 0.0, "errmsg": e.errmsg, "code": e.code, "codeName": e.code_name}
        if e.labels:
            reply["errorLabels"] = list(e.labels)
        return reply

    def stamp(self, reply):
        ts = self.store.cluster_time()
        reply.setdefault("ok", 1.0)
        reply["$clusterTime"] = {"clusterTime": ts,
                                 "signature": {"hash": Binary(b"\0" * 20), "keyId": Int64(0)}}
        reply["operationTime"] = ts
        return reply

    def cursor_id(self):
        self.next_cursor += random.randint(1, 1000)
        return Int64(self.next_cursor)

    # --- handshake and server info ---------------------------------------------
    def cmd_hello(self, cmd, db, conn):
        client = cmd.get("client")
        if isinstance(client, dict):
            app = client.get("application")
            if isinstance(app, dict):
                conn.app_name = app.get("name")
        addr = self.server.address
        ts = self.store.cluster_time()
        now = datetime.datetime.utcnow().replace(microsecond=0)
        return {"helloOk": True, "isWritablePrimary": True, "ismaster": True,
                "setName": self.server.set_name, "setVersion": 1, "hosts": [addr],
                "me": addr, "primary": addr, "secondary": False,
                "electionId": ObjectId("7fffffff0000000000000001"),
                "lastWrite": {"opTime": {"ts": ts, "t": Int64(1)}, "lastWriteDate": now,
                              "majorityOpTime": {"ts": ts, "t": Int64(1)},
                              "majorityWriteDate": now},
                "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48000000,
                "maxWriteBatchSize": 100000, "localTime": now,
                "logicalSessionTimeoutMinutes": 30, "connectionId": conn.id,
                "minWireVersion": 0, "maxWireVersion": 17, "readOnly": False}

    def cmd_ping(self, cmd, db, conn):
        return {}

    def cmd_buildInfo(self, cmd, db, conn):
        return {"version": "6.0.0", "gitVersion": "0" * 40, "versionArray": [6, 0, 0, 0],
                "bits": 64, "debug": False, "maxBsonObjectSize": 16 * 1024 * 1024,
                "storageEngines": ["inMemory"], "modules": [], "allocator": "system",
                "javascriptEngine": "none", "sysInfo": "deprecated", "openssl": {},
                "buildEnvironment": {}}

    cmd_buildinfo = cmd_buildInfo

    def cmd_getParameter(self, cmd, db, conn):
        params = {"featureCompatibilityVersion": {"version": "6.0"},
                  "authenticationMechanisms": ["SCRAM-SHA-1", "SCRAM-SHA-256"],
                  "requireApiVersion": False, "enableTestCommands": True}
        if cmd["getParameter"] == "*":
            return dict(params)
        out = {}
        for k in cmd:
            if k in params:
                out[k] = params[k]
        if not out:
            raise PeerError(72, "InvalidOptions", "no option found to get")
        return out

    def cmd_serverStatus(self, cmd, db, conn):
        return {"host": self.server.address, "version": "6.0.0", "process": "mongod",
                "uptime": 1.0, "localTime": datetime.datetime.utcnow(),
                "connections": {"current": 1, "available": 1000}}

    def cmd_hostInfo(self, cmd, db, conn):
        return {"system": {"hostname": self.server.address}, "os": {}, "extra": {}}

    def cmd_whatsmyuri(self, cmd, db, conn):
        return {"you": "127.0.0.1:0"}

    def cmd_connectionStatus(self, cmd, db, conn):
        return {"authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}}

    def cmd_replSetGetStatus(self, cmd, db, conn):
        return {"set": self.server.set_name, "myState": 1,
                "members": [{"_id": 0, "name": self.server.address, "stateStr": "PRIMARY",
                             "health": 1, "state": 1, "self": True}]}

    def cmd_endSessions(self, cmd, db, conn):
        return {}

    def cmd_killAllSessions(self, cmd, db, conn):
        return {}

    def cmd_killSessions(self, cmd, db, conn):
        return {}

    def cmd_abortTransaction(self, cmd, db, conn):
        return {}

    def cmd_commitTransaction(self, cmd, db, conn):
        return {}

    def cmd_refreshSessions(self, cmd, db, conn):
        return {}

    # --- fail points and peer-only commands -----------------------------------------
    def cmd_configureFailPoint(self, cmd, db, conn):
        if db != "admin":
            raise PeerError(13, "Unauthorized",
                            "configureFailPoint may only be run against the admin database.")
        name = cmd["configureFailPoint"]
        if name not in ("failCommand", "failGetMoreAfterCursorCheckout"):
            raise PeerError(2, "BadValue", "mongo_peer: unknown fail point: %r "
                            "(failCommand and failGetMoreAfterCursorCheckout are known)" % name)
        attr = "fail" if name == "failCommand" else "fail_getmore"
        mode = cmd.get("mode")
        data = cmd.get("data", {})
        count = self.fail_hits[attr]    # like mongod: times the old setting fired
        if mode == "off":
            new = None
        elif mode == "alwaysOn":
            new = {"data": data, "left": None}
        elif isinstance(mode, dict) and "times" in mode:
            n = int(mode["times"])
            new = {"data": data, "left": n} if n > 0 else None
        else:
            raise PeerError(2, "BadValue", "mongo_peer: unsupported fail point mode %r "
                            "(use 'off', 'alwaysOn' or {times: n})" % (mode,))
        if new is not None and attr == "fail" and not isinstance(data.get("failCommands"), list):
            raise PeerError(2, "BadValue", "failCommand needs data.failCommands, an array")
        setattr(self, attr, new)
        self.fail_hits[attr] = 0
        return {"count": count}

    def cmd_peerFailPointStatus(self, cmd, db, conn):
        """How often each fail point fired since it was last configured, and
        how many times it has left (None: alwaysOn; absent: off)."""
        out = {}
        for attr, name in (("fail", "failCommand"),
                           ("fail_getmore", "failGetMoreAfterCursorCheckout")):
            fp = getattr(self, attr)
            out[name] = {"hits": self.fail_hits[attr], "on": fp is not None,
                         "left": fp["left"] if fp is not None else 0}
        return out

    def cmd_peerTruncateHistory(self, cmd, db, conn):
        dropped = len(self.store.log)
        self.store.truncate()
        return {"dropped": dropped}

    def cmd_peerLoad(self, cmd, db, conn):
        ns = cmd["peerLoad"]
        if not isinstance(ns, str) or "." not in ns:
            raise PeerError(2, "BadValue", "peerLoad: expected \"db.coll\", got %r" % (ns,))
        count = int(cmd.get("count", 0))
        size = int(cmd.get("size", 0))
        if count < 0 or size < 0:
            raise PeerError(2, "BadValue", "peerLoad: count and size must be >= 0")
        d, c = ns_split(ns)
        started = time.monotonic()
        n = self.store.load(d, c, count, size)
        self.store.notify()
        return {"n": n, "seconds": time.monotonic() - started}

    # --- cursors ----------------------------------------------------------------
    def list_reply(self, ns, docs, batch_size, single=False, first=True):
        n = len(docs) if batch_size is None else batch_size
        cur = None
        if not single and n < len(docs):
            cur = ListCursor(self.cursor_id(), ns, docs)
            self.cursors[cur.id] = cur
            batch = cur.take(n)
        else:
            batch = docs
        return {"cursor": {"firstBatch" if first else "nextBatch": batch,
                           "id": cur.id if cur is not None else Int64(0), "ns": ns}}

    async def cmd_getMore(self, cmd, db, conn):
        cid = cmd["getMore"]
        cur = self.cursors.get(cid)
        if cur is None:
            raise PeerError(43, "CursorNotFound", "cursor id %d not found" % cid)
        batch_size = cmd.get("batchSize")
        if isinstance(cur, ListCursor):
            batch = cur.take(batch_size or 101 if batch_size else len(cur.docs))
            if cur.exhausted:
                del self.cursors[cid]
            return {"cursor": {"nextBatch": batch,
                               "id": Int64(0) if cur.exhausted else cur.id, "ns": cur.ns}}
        limit = batch_size if batch_size else 1 << 30
        deadline = time.monotonic() + float(cmd.get("maxTimeMS", 1000)) / 1000.0
        while True:
            try:
                batch = cur.fetch(self.store, limit)
            except PeerError:
                self.cursors.pop(cid, None)
                raise
            if batch or cur.closed:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self.store.changed.wait(), left)
            except asyncio.TimeoutError:
                pass
            if self.cursors.get(cid) is not cur:
                raise PeerError(237, "CursorKilled", "cursor id %d was killed" % cid)
        if cur.closed:
            self.cursors.pop(cid, None)
        return {"cursor": {"nextBatch": batch, "postBatchResumeToken": cur.pbrt,
                           "id": Int64(0) if cur.closed else cur.id, "ns": cur.ns}}

    def cmd_killCursors(self, cmd, db, conn):
        killed, missing = [], []
        for cid in cmd.get("cursors", []):
            (killed if self.cursors.pop(cid, None) is not None else missing).append(cid)
        return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [],
                "cursorsUnknown": []}

    # --- reads ----------------------------------------------------------------
    def docs_of(self, db, name):
        if db == "local" and name == "oplog.rs":
            return self.store.oplog()
        c = self.store.coll(db, name)
        return list(c.docs.values()) if c is not None else []

    def cmd_find(self, cmd, db, conn):
        name = coll_name(cmd, "find")
        docs = [d for d in self.docs_of(db, name) if match(d, cmd.get("filter") or {})]
        if cmd.get("sort"):
            sort_docs(docs, cmd["sort"])
        skip = int(cmd.get("skip", 0) or 0)
        limit = int(cmd.get("limit", 0) or 0)
        single = truthy(cmd.get("singleBatch")) or limit < 0
        docs = docs[skip:]
        if limit:
            docs = docs[:abs(limit)]
        if cmd.get("projection"):
            docs = [project(d, cmd["projection"]) for d in docs]
        bs = cmd.get("batchSize")
        return self.list_reply("%s.%s" % (db, name), docs, 101 if bs is None else bs, single)

    def cmd_count(self, cmd, db, conn):
        docs = [d for d in self.docs_of(db, cmd["count"]) if match(d, cmd.get("query") or {})]
        docs = docs[int(cmd.get("skip", 0) or 0):]
        if cmd.get("limit"):
            docs = docs[:abs(int(cmd["limit"]))]
        return {"n": len(docs)}

    def cmd_distinct(self, cmd, db, conn):
        out = []
        for d in self.docs_of(db, cmd["distinct"]):
            if match(d, cmd.get("query") or {}):
                v = get_path(d, cmd["key"])
                for x in (v if isinstance(v, list) else [v]):
                    if x is not MISSING and not any(equal(x, y) for y in out):
                        out.append(x)
        return {"values": out}

    def cmd_aggregate(self, cmd, db, conn):
        target = cmd["aggregate"]
        pipeline = cmd.get("pipeline")
        if not isinstance(pipeline, list):
            raise PeerError(14, "TypeMismatch", "'pipeline' option must be specified as an array")
        if pipeline and isinstance(pipeline[0], dict) and "$changeStream" in pipeline[0]:
            return self.open_stream(cmd, db, target, pipeline)
        for st in pipeline[1:]:
            if isinstance(st, dict) and "$changeStream" in st:
                raise PeerError(40602, "Location40602",
                                "$changeStream is only valid as the first stage in a pipeline.")
        if not isinstance(target, str):
            raise PeerError(73, "InvalidNamespace", "{aggregate: 1} is not valid for '%s' "
                            "without $changeStream (or $documents)" % db)
        docs = self.docs_of(db, target)
        for st in pipeline:
            docs = self.agg_stage(st, docs)
        bs = (cmd.get("cursor") or {}).get("batchSize")
        return self.list_reply("%s.%s" % (db, target), docs, 101 if bs is None else bs)

    def agg_stage(self, st, docs):
        name, arg = next(iter(st.items()))
        if name == "$match":
            return [d for d in docs if match(d, arg)]
        if name == "$sort":
            return sort_docs(list(docs), arg)
        if name == "$skip":
            return docs[int(arg):]
        if name == "$limit":
            return docs[:int(arg)]
        if name == "$count":
            return [{arg: len(docs)}] if docs else []
        if name == "$group":
            groups = {}
            for d in docs:
                key = evaluate(arg["_id"], d)
                key = None if key is MISSING else key
                k = id_key(key)
                g = groups.get(k)
                if g is None:
                    g = groups[k] = {"_id": key}
                    for f, acc in arg.items():
                        if f != "_id":
                            op = next(iter(acc))
                            g[f] = 0 if op == "$sum" else [] if op == "$push" else None
                for f, acc in arg.items():
                    if f == "_id":
                        continue
                    op, e = next(iter(acc.items()))
                    v = evaluate(e, d)
                    if op == "$sum":
                        g[f] += v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0
                    elif op == "$push":
                        g[f].append(v)
                    elif op == "$first" and g[f] is None:
                        g[f] = v
                    elif op == "$last":
                        g[f] = v
                    elif op in ("$max", "$min") and v is not MISSING:
                        from peer_query import compare
                        if g[f] is None or (compare(v, g[f]) > 0) == (op == "$max"):
                            g[f] = v
            return list(groups.values())
        if name in ("$project", "$addFields", "$set", "$unset", "$replaceRoot", "$replaceWith"):
            out = []
            for d in docs:
                r = _stage(st, copy_doc(d))
                if r is not None:
                    out.append(r)
            return out
        raise PeerError(40324, "Location40324",
                        "Unrecognized pipeline stage name: '%s' (mongo_peer)" % name)

    def open_stream(self, cmd, db, target, pipeline):
        spec = pipeline[0]["$changeStream"]
        if not isinstance(spec, dict):
            raise PeerError(50808, "Location50808", "$changeStream stage expects a document "
                            "as argument")
        check_pipeline(pipeline[1:])
        cluster = truthy(spec.get("allChangesForCluster"))
        if cluster and (db != "admin" or target != 1):
            raise PeerError(72, "InvalidOptions",
                            "A change stream that watches all changes for the cluster must be "
                            "opened on the admin database with {aggregate: 1}")
        if target == 1:
            if db == "admin" and not cluster:
                raise PeerError(72, "InvalidOptions", "$changeStream may not be opened on "
                                "the internal admin database")
            coll = None
            ns = "%s.$cmd.aggregate" % db
        elif isinstance(target, str):
            coll = target
            ns = "%s.%s" % (db, target)
        else:
            raise PeerError(73, "InvalidNamespace", "bad aggregate target %r" % (target,))
        cs = ChangeStream(self.cursor_id(), ns, db, coll, cluster, spec, pipeline[1:], self.store)
        bs = (cmd.get("cursor") or {}).get("batchSize")
        batch = cs.fetch(self.store, 101 if bs is None else bs) if bs != 0 else []
        if not cs.closed:
            self.cursors[cs.id] = cs
        return {"cursor": {"firstBatch": batch, "postBatchResumeToken": cs.pbrt,
                           "id": Int64(0) if cs.closed else cs.id, "ns": ns}}

    # --- writes -----------------------------------------------------------------
    def _created(self, db, name):
        """The collection, created (with its create event) when new."""
        c = self.store.coll(db, name)
        if c is None:
            c = self.store.coll(db, name, create=True)
            self.store.append("create", db, name)
        return c

    def cmd_insert(self, cmd, db, conn):
        name = coll_name(cmd, "insert")
        docs = cmd.get("documents") or []
        ordered = truthy(cmd.get("ordered", True))
        c = self._created(db, name)
        n, errors = 0, []
        for i, d in enumerate(docs):
            if "_id" not in d:
                d = dict([("_id", ObjectId())] + list(d.items()))
            elif isinstance(d["_id"], list):
                errors.append({"index": i, "code": 53, "codeName": "InvalidIdField",
                               "errmsg": "The '_id' value cannot be of type array"})
                if ordered:
                    break
                continue
            k = id_key(d["_id"])
            if k in c.docs:
                errors.append({"index": i, "code": 11000, "codeName": "DuplicateKey",
                               "keyPattern": {"_id": 1}, "keyValue": {"_id": d["_id"]},
                               "errmsg": "E11000 duplicate key error collection: %s.%s index: "
                                         "_id_ dup key: { _id: %r }" % (db, name, d["_id"])})
                if ordered:
                    break
                continue
            c.docs[k] = d
            n += 1
            e = self.store.append("insert", db, name)
            e.key = d["_id"]
            e.full = d
        self.store.notify()
        reply = {"n": n}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def _write_event(self, c, db, name, op, old, new, res=None):
        e = self.store.append(op, db, name)
        e.key = (new if new is not None else old)["_id"]
        if op == "replace":
            e.full = new
        elif op == "update":
            e.upd = {"updatedFields": dict(res[0]), "removedFields": list(res[1]),
                     "truncatedArrays": list(res[2])}
        if c.pre_images:
            e.images = True
            e.pre = old
            e.post = new
        return e

    def _modify(self, c, old, mod, inserting=False):
        """(new document, op, (updated, removed)) for an update spec."""
        if isinstance(mod, list):
            new = copy_doc(old)
            for st in mod:
                name = next(iter(st))
                if name not in ("$set", "$addFields", "$unset", "$project", "$replaceRoot",
                                "$replaceWith"):
                    raise PeerError(72, "InvalidOptions", "%s is not allowed to be used within "
                                    "an update" % name)
                new = _stage(st, new)
            if "_id" in old:
                new = dict([("_id", old["_id"])] + [(k, v) for k, v in new.items() if k != "_id"])
            return new, "update", diff_docs(old, new)
        if is_update_doc(mod):
            new = copy_doc(old)
            r = apply_update(new, mod, inserting)
            return new, "update", (r.updated, r.removed, [])
        check_replacement(mod)
        if "_id" in mod and "_id" in old and not equal(mod["_id"], old["_id"]):
            raise PeerError(66, "ImmutableField",
                            "After applying the update, the (immutable) field '_id' was found "
                            "to have been altered to _id: %r" % (mod["_id"],))
        new = {"_id": old["_id"]} if "_id" in old else {}
        for k, v in mod.items():
            if k != "_id":
                new[k] = v
        return new, "replace", None

    def _upsert(self, c, db, name, q, mod):
        seed = upsert_seed(q)
        if isinstance(mod, dict) and not is_update_doc(mod):
            check_replacement(mod)
            new = {"_id": mod.get("_id", seed.get("_id", MISSING))}
            for k, v in mod.items():
                if k != "_id":
                    new[k] = v
        else:
            new, _, _ = self._modify(c, seed, mod, inserting=True)
            if "_id" in new:
                new = dict([("_id", new["_id"])] + [(k, v) for k, v in new.items() if k != "_id"])
            else:
                new = {"_id": MISSING, **new}
        if new["_id"] is MISSING:
            new["_id"] = ObjectId()
        k = id_key(new["_id"])
        if k in c.docs:
            raise PeerError(11000, "DuplicateKey", "E11000 duplicate key error collection: %s.%s "
                            "index: _id_ dup key: { _id: %r }" % (db, name, new["_id"]))
        c.docs[k] = new
        e = self.store.append("insert", db, name)
        e.key = new["_id"]
        e.full = new
        return new

    def _update_one_spec(self, c, db, name, q, mod, multi, upsert, sort=None):
        """(matched, modified, upserted doc or None, [(old, new)])."""
        docs = [d for d in c.docs.values() if match(d, q)]
        if sort:
            sort_docs(docs, sort)
        if not multi:
            docs = docs[:1]
        if multi and isinstance(mod, dict) and mod and not is_update_doc(mod):
            raise PeerError(9, "FailedToParse", "multi update is not supported for replacement-"
                            "style update")
        modified, changes = 0, []
        for old in docs:
            new, op, res = self._modify(c, old, mod)
            changes.append((old, new))
            if bson.encode(new) == bson.encode(old):
                continue
            c.docs[id_key(old["_id"])] = new
            self._write_event(c, db, name, op, old, new, res)
            modified += 1
        if not docs and upsert:
            new = self._upsert(c, db, name, q, mod)
            return 0, 0, new, [(None, new)]
        return len(docs), modified, None, changes

    def cmd_update(self, cmd, db, conn):
        name = coll_name(cmd, "update")
        ordered = truthy(cmd.get("ordered", True))
        c = self.store.coll(db, name)
        n = n_mod = 0
        upserted, errors = [], []
        try:
            for i, u in enumerate(cmd.get("updates") or []):
                try:
                    if c is None and truthy(u.get("upsert")):
                        c = self._created(db, name)
                    if c is None:
                        continue
                    m, mod, up, _ = self._update_one_spec(c, db, name, u.get("q") or {}, u["u"],
                                                          truthy(u.get("multi")),
                                                          truthy(u.get("upsert")))
                except PeerError as e:
                    errors.append({"index": i, "code": e.code, "codeName": e.code_name,
                                   "errmsg": e.errmsg})
                    if ordered:
                        break
                    continue
                n += m + (1 if up is not None else 0)
                n_mod += mod
                if up is not None:
                    upserted.append({"index": i, "_id": up["_id"]})
        finally:
            self.store.notify()
        reply = {"n": n, "nModified": n_mod}
        if upserted:
            reply["upserted"] = upserted
        if errors:
            reply["writeErrors"] = errors
        return reply

    def cmd_delete(self, cmd, db, conn):
        name = coll_name(cmd, "delete")
        c = self.store.coll(db, name)
        n = 0
        for dl in cmd.get("deletes") or []:
            if c is None:
                break
            docs = [d for d in c.docs.values() if match(d, dl.get("q") or {})]
            if int(dl.get("limit", 0)) == 1:
                docs = docs[:1]
            for old in docs:
                del c.docs[id_key(old["_id"])]
                e = self.store.append("delete", db, name)
                e.key = old["_id"]
                if c.pre_images:
                    e.images = True
                    e.pre = old
                n += 1
        self.store.notify()
        return {"n": n}

    def cmd_findAndModify(self, cmd, db, conn):
        name = cmd.get("findAndModify", cmd.get("findandmodify"))
        q = cmd.get("query") or {}
        c = self.store.coll(db, name)
        upsert = truthy(cmd.get("upsert"))
        try:
            if truthy(cmd.get("remove")):
                docs = [d for d in (c.docs.values() if c else []) if match(d, q)]
                if cmd.get("sort"):
                    sort_docs(docs, cmd["sort"])
                if not docs:
                    return {"lastErrorObject": {"n": 0}, "value": None}
                old = docs[0]
                del c.docs[id_key(old["_id"])]
                e = self.store.append("delete", db, name)
                e.key = old["_id"]
                if c.pre_images:
                    e.images, e.pre = True, old
                value = old
                leo = {"n": 1}
            else:
                if c is None:
                    if not upsert:
                        return {"lastErrorObject": {"n": 0, "updatedExisting": False},
                                "value": None}
                    c = self._created(db, name)
                m, _, up, changes = self._update_one_spec(c, db, name, q, cmd["update"], False,
                                                          upsert, cmd.get("sort"))
                if up is not None:
                    value = up if truthy(cmd.get("new")) else None
                    leo = {"n": 1, "updatedExisting": False, "upserted": up["_id"]}
                elif m:
                    old, new = changes[0]
                    value = new if truthy(cmd.get("new")) else old
                    leo = {"n": 1, "updatedExisting": True}
                else:
                    value = None
                    leo = {"n": 0, "updatedExisting": False}
        finally:
            self.store.notify()
        if value is not None and cmd.get("fields"):
            value = project(value, cmd["fields"])
        return {"lastErrorObject": leo, "value": value}

    # --- catalogue --------------------------------------------------------------
    def _options(self, cmd, skip):
        return {k: v for k, v in cmd.items() if k != skip and k not in SESSION_FIELDS}

    def cmd_create(self, cmd, db, conn):
        name = coll_name(cmd, "create")
        if self.store.coll(db, name) is not None:
            raise PeerError(48, "NamespaceExists", "Collection %s.%s already exists." % (db, name))
        c = self.store.coll(db, name, create=True)
        c.options = self._options(cmd, "create")
        e = self.store.append("create", db, name)
        e.desc = {"idIndex": c.indexes[0]}
        self.store.notify()
        return {}

    def cmd_collMod(self, cmd, db, conn):
        name = coll_name(cmd, "collMod")
        c = self.store.coll(db, name)
        if c is None:
            raise PeerError(26, "NamespaceNotFound", "ns does not exist: %s.%s" % (db, name))
        for k, v in self._options(cmd, "collMod").items():
            if k == "index":
                continue
            c.options[k] = v
        self.store.append("modify", db, name)
        self.store.notify()
        return {}

    def cmd_drop(self, cmd, db, conn):
        name = coll_name(cmd, "drop")
        colls = self.store.dbs.get(db) or {}
        c = colls.pop(name, None)
        if c is None:
            raise PeerError(26, "NamespaceNotFound", "ns not found")
        self.store.append("drop", db, name).uuid = c.uuid
        self.store.notify()
        return {"ns": "%s.%s" % (db, name), "nIndexesWas": len(c.indexes)}

    def cmd_dropDatabase(self, cmd, db, conn):
        colls = self.store.dbs.pop(db, None)
        if colls:
            for name, c in list(colls.items()):
                self.store.append("drop", db, name).uuid = c.uuid
            self.store.append("dropDatabase", db)
            self.store.notify()
        return {"dropped": db}

    def cmd_renameCollection(self, cmd, db, conn):
        if db != "admin":
            raise PeerError(13, "Unauthorized",
                            "renameCollection may only be run against the admin database.")
        src, dst = cmd["renameCollection"], cmd.get("to")
        if not isinstance(src, str) or not isinstance(dst, str) or "." not in src or "." not in dst:
            raise PeerError(73, "InvalidNamespace", "Invalid namespace specified")
        sdb, scoll = ns_split(src)
        ddb, dcoll = ns_split(dst)
        c = self.store.coll(sdb, scoll)
        if c is None:
            raise PeerError(26, "NamespaceNotFound", "Source collection %s does not exist" % src)
        target = self.store.coll(ddb, dcoll)
        if target is not None:
            if not truthy(cmd.get("dropTarget")):
                raise PeerError(48, "NamespaceExists", "target namespace exists")
            del self.store.dbs[ddb][dcoll]
        del self.store.dbs[sdb][scoll]
        c.name = dcoll
        self.store.dbs.setdefault(ddb, {})[dcoll] = c
        e = self.store.append("rename", sdb, scoll)
        e.to = (ddb, dcoll)
        e.uuid = c.uuid
        e.desc = {"to": {"db": ddb, "coll": dcoll}}
        if target is not None:
            e.desc["dropTarget"] = target.uuid
        self.store.notify()
        return {}

    def cmd_createIndexes(self, cmd, db, conn):
        name = coll_name(cmd, "createIndexes")
        fresh = self.store.coll(db, name) is None
        c = self._created(db, name)
        before = len(c.indexes)
        for spec in cmd.get("indexes") or []:
            if not isinstance(spec, dict) or not isinstance(spec.get("key"), dict):
                raise PeerError(9, "FailedToParse", "index specification must have a 'key' "
                                "document")
            spec = dict(spec)
            if "name" not in spec:
                spec["name"] = "_".join("%s_%s" % (k, v) for k, v in spec["key"].items())
            same = [i for i in c.indexes if i["name"] == spec["name"]]
            if same:
                if not equal(same[0]["key"], spec["key"]):
                    raise PeerError(86, "IndexKeySpecsConflict",
                                    "An existing index has the same name as the requested "
                                    "index but a different key: %s" % spec["name"])
                continue
            c.indexes.append(dict([("v", 2)] + list(spec.items())))
            e = self.store.append("createIndexes", db, name)
            e.desc = {"indexes": [c.indexes[-1]]}
        self.store.notify()
        return {"numIndexesBefore": before, "numIndexesAfter": len(c.indexes),
                "createdCollectionAutomatically": fresh}

    def cmd_dropIndexes(self, cmd, db, conn):
        name = coll_name(cmd, "dropIndexes")
        c = self.store.coll(db, name)
        if c is None:
            raise PeerError(26, "NamespaceNotFound", "ns not found %s.%s" % (db, name))
        which = cmd.get("index")
        before = len(c.indexes)
        if which == "*":
            c.indexes = c.indexes[:1]
        else:
            names = which if isinstance(which, list) else [which]
            for w in names:
                hit = [i for i in c.indexes
                       if (isinstance(w, str) and i["name"] == w) or
                       (isinstance(w, dict) and equal(i["key"], w))]
                if not hit or hit[0]["name"] == "_id_":
                    raise PeerError(27, "IndexNotFound", "index not found with name [%s]" % (w,))
                c.indexes.remove(hit[0])
        self.store.append("dropIndexes", db, name)
        self.store.notify()
        return {"nIndexesWas": before}

    cmd_deleteIndexes = cmd_dropIndexes

    def cmd_listIndexes(self, cmd, db, conn):
        name = coll_name(cmd, "listIndexes")
        c = self.store.coll(db, name)
        if c is None:
            raise PeerError(26, "NamespaceNotFound", "ns does not exist: %s.%s" % (db, name))
        bs = (cmd.get("cursor") or {}).get("batchSize")
        return self.list_reply("%s.%s" % (db, name), [dict(i) for i in c.indexes], bs)

    def cmd_listCollections(self, cmd, db, conn):
        out = []
        for name, c in (self.store.dbs.get(db) or {}).items():
            info = {"name": name, "type": "collection", "options": dict(c.options),
                    "info": {"readOnly": False}, "idIndex": c.indexes[0]}
            if match(info, cmd.get("filter") or {}):
                out.append({"name": name, "type": "collection"}
                           if truthy(cmd.get("nameOnly")) else info)
        bs = (cmd.get("cursor") or {}).get("batchSize")
        return self.list_reply("%s.$cmd.listCollections" % db, out, bs)

    def cmd_listDatabases(self, cmd, db, conn):
        out = []
        for name, colls in self.store.dbs.items():
            info = {"name": name, "sizeOnDisk": Int64(8192 * max(1, len(colls))),
                    "empty": not colls}
            if match(info, cmd.get("filter") or {}):
                out.append({"name": name} if truthy(cmd.get("nameOnly")) else info)
        return {"databases": out, "totalSize": Int64(sum(d.get("sizeOnDisk", 0) for d in out))}

