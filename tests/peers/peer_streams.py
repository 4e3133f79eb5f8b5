"""Change-stream cursors of the MongoDB peer.

A ChangeStream turns the store's oplog entries into the events one
`$changeStream` aggregate sees: scoped to a collection, a database or the
cluster, shaped by the fullDocument / fullDocumentBeforeChange modes, run
through the rest of the pipeline, followed by an `invalidate` when its
collection is dropped or renamed (its database dropped, for a database
stream), after which the cursor is closed.
"""

import bson
from bson.raw_bson import RawBSONDocument

from peer_query import (MISSING, PeerError, copy_doc, evaluate, match, project,
                        remove_path, set_path, equal, truthy)
from peer_store import KIND_EVENT, KIND_HWM, KIND_INVALIDATE, history_lost, make_token

ALLOWED_STAGES = ("$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot",
                  "$replaceWith", "$redact")
KNOWN_STAGES = ALLOWED_STAGES + ("$group", "$sort", "$limit", "$skip", "$lookup", "$unwind",
                                 "$count", "$out", "$merge", "$facet", "$sample",
                                 "$graphLookup", "$bucket", "$sortByCount", "$geoNear",
                                 "$changeStream", "$documents", "$densify", "$fill")
FULL_DOCUMENT = ("default", "updateLookup", "whenAvailable", "required")
BEFORE_CHANGE = ("off", "whenAvailable", "required")
INTERNAL_DBS = ("admin", "config", "local")
MAX_BATCH_BYTES = 16 * 1024 * 1024 - 16 * 1024


def check_pipeline(stages):
    for st in stages:
        if not isinstance(st, dict) or len(st) != 1:
            raise PeerError(40323, "Location40323",
                            "A pipeline stage specification object must contain exactly "
                            "one field.")
        name = next(iter(st))
        if name not in KNOWN_STAGES:
            raise PeerError(40324, "Location40324",
                            "Unrecognized pipeline stage name: '%s'" % name)
        if name not in ALLOWED_STAGES:
            raise PeerError(20, "IllegalOperation",
                            "%s is not permitted in a $changeStream pipeline" % name)


class ChangeStream:
    def __init__(self, cursor_id, ns, db, coll, cluster, spec, stages, store):
        self.id = cursor_id
        self.ns = ns
        self.db, self.coll, self.cluster = db, coll, cluster
        self.stages = stages
        self.closed = False
        self.full_document = spec.get("fullDocument", "default")
        self.before = spec.get("fullDocumentBeforeChange", "off")
        if self.full_document not in FULL_DOCUMENT:
            raise PeerError(2, "BadValue", "unknown fullDocument mode: %r" % self.full_document)
        if self.before not in BEFORE_CHANGE:
            raise PeerError(2, "BadValue",
                            "unknown fullDocumentBeforeChange mode: %r" % self.before)
        self.show_expanded = truthy(spec.get("showExpandedEvents", False))
        resume = spec.get("resumeAfter")
        start_after = spec.get("startAfter")
        at = spec.get("startAtOperationTime")
        if sum(x is not None for x in (resume, start_after, at)) > 1:
            raise PeerError(40674, "Location40674",
                            "Only one type of resume option is allowed, but multiple were found.")
        if resume is not None:
            self.next_seq = store.resume_seq(resume, False)
            self.pbrt = resume
        elif start_after is not None:
            self.next_seq = store.resume_seq(start_after, True)
            self.pbrt = start_after
        elif at is not None:
            self.next_seq = store.seq_at_time(at)
            self.pbrt = self._hwm(store, self.next_seq - 1)
        else:
            self.next_seq = store.last_seq + 1
            self.pbrt = self._hwm(store, store.last_seq)
        # Sending events as stored (no per-stream shaping) lets a batch reuse
        # each entry's encoding: the benchmark path.
        self.plain = (self.full_document == "default" and self.before == "off" and
                      not self.show_expanded and
                      all(next(iter(s)) == "$match" for s in stages))
        # A filter on nothing but the operation type and namespace gives the
        # same answer for every entry of one kind: remember it.
        self.verdicts = {} if self.plain and all(_ns_only(s["$match"]) for s in stages) \
            else None

    def _hwm(self, store, seq):
        e = store.entry(seq)
        ts = e.ts if e is not None else store.start_ts if seq == 0 else store.cluster_time()
        return make_token(ts, seq, KIND_HWM)

    # --- scope --------------------------------------------------------------
    def _sees(self, e):
        """(visible, invalidates) for an oplog entry."""
        if self.cluster:
            return e.db not in INTERNAL_DBS and not _system(e.coll), False
        if e.db != self.db or _system(e.coll):
            return False, False
        if self.coll is None:
            return True, e.op == "dropDatabase"
        if e.coll != self.coll:
            return False, False
        return True, e.op in ("drop", "rename")

    # --- one event ------------------------------------------------------------
    def _shape(self, e, store):
        if e.op in ("create", "createIndexes", "dropIndexes", "modify") and not self.show_expanded:
            return None
        if self.plain:
            if self.verdicts is not None:
                k = (e.op, e.db, e.coll, e.to)
                ok = self.verdicts.get(k)
                if ok is None:
                    ok = self.verdicts[k] = all(match(e.base(), st["$match"])
                                                for st in self.stages)
                return e.raw() if ok else None
            base = e.base()
            for st in self.stages:
                if not match(base, st["$match"]):
                    return None
            return e.raw()
        ev = copy_doc(e.base())
        if self.show_expanded:
            if e.uuid is not None:
                ev["collectionUUID"] = e.uuid
            if e.desc is not None:
                ev["operationDescription"] = e.desc
        if e.op == "update" and self.full_document != "default":
            if self.full_document == "updateLookup":
                c = store.coll(e.db, e.coll)
                d = c.find_id(e.key) if c is not None else None
                ev["fullDocument"] = copy_doc(d) if d is not None else None
            elif e.images:
                ev["fullDocument"] = e.post
            elif self.full_document == "required":
                raise PeerError(47, "NoMatchingDocument",
                                "Change stream was configured to require a post-image for all "
                                "update events, but the post-image was not found for event: %s"
                                % e.token()["_data"])
            else:
                ev["fullDocument"] = None
            ev = _reorder(ev)
        if e.op in ("update", "replace", "delete") and self.before != "off":
            if e.images:
                ev["fullDocumentBeforeChange"] = e.pre
            elif self.before == "required":
                raise PeerError(47, "NoMatchingDocument",
                                "Change stream was configured to require a pre-image for all "
                                "update, delete and replace events, but the pre-image was not "
                                "found for event: %s" % e.token()["_data"])
            else:
                ev["fullDocumentBeforeChange"] = None
        for st in self.stages:
            ev = _stage(st, ev)
            if ev is None:
                return None
        if not isinstance(ev.get("_id", MISSING), dict) or not equal(ev["_id"], e.token()):
            raise PeerError(280, "ChangeStreamFatalError",
                            "Encountered an event whose _id field, which contains the resume "
                            "token, was modified by the pipeline. Modifying the _id field of an "
                            "event makes it impossible to resume the stream from that point. "
                            "Only transformations that retain the unmodified _id field are "
                            "allowed.")
        return RawBSONDocument(bson.encode(ev))

    def _invalidate(self, e):
        """The invalidate event after e, through the user's stages like any
        event (mongod's CheckInvalidate stage comes before them: a $match may
        drop it, and the cursor closes all the same); None when dropped."""
        ev = {"_id": e.token(KIND_INVALIDATE), "operationType": "invalidate",
              "clusterTime": e.ts, "wallTime": e.wall}
        for st in self.stages:
            ev = _stage(st, ev)
            if ev is None:
                return None
        return RawBSONDocument(bson.encode(ev))

    # --- a batch ----------------------------------------------------------------
    def fetch(self, store, limit):
        """Up to `limit` events from where the stream stands (never waits)."""
        out = []
        size = 0
        if self.closed:
            return out
        if self.next_seq < store.base_seq:
            self.closed = True
            raise history_lost("the stream fell behind the kept history")
        last = None         # (entry, kind) the postBatchResumeToken stands for
        log, base_seq = store.log, store.base_seq
        try:
            while self.next_seq <= store.last_seq and len(out) < limit and size < MAX_BATCH_BYTES:
                e = log[self.next_seq - base_seq]
                self.next_seq += 1
                visible, invalidates = self._sees(e)
                if not visible:
                    last = (e, KIND_HWM)
                    continue
                doc = self._shape(e, store)
                if doc is not None:
                    out.append(doc)
                    size += len(doc.raw)
                    last = (e, KIND_EVENT)
                else:
                    last = (e, KIND_HWM)
                if invalidates:
                    last = None
                    inv = self._invalidate(e)
                    if inv is not None:
                        out.append(inv)
                    self.pbrt = e.token(KIND_INVALIDATE)
                    self.closed = True
                    break
        except PeerError:
            self.closed = True
            raise
        finally:
            if last is not None:
                self.pbrt = make_token(last[0].ts, last[0].seq, last[1])
        return out


def _ns_only(query):
    """True when a $match looks at nothing but operationType and ns."""
    for k, v in query.items():
        if k in ("$and", "$or", "$nor"):
            if not isinstance(v, list) or not all(isinstance(q, dict) and _ns_only(q) for q in v):
                return False
        elif k not in ("operationType", "ns", "ns.db", "ns.coll", "to", "to.db", "to.coll"):
            return False
    return True


def _system(coll):
    return coll is not None and coll.startswith("system.")


def _reorder(ev):
    """mongod's field order: fullDocument after updateDescription for updates."""
    if "fullDocument" in ev and "updateDescription" in ev:
        fd = ev.pop("fullDocument")
        ev["fullDocument"] = fd
    return ev


def _stage(st, ev):
    name, arg = next(iter(st.items()))
    if name == "$match":
        return ev if match(ev, arg) else None
    if name == "$project":
        return project(ev, arg)
    if name in ("$addFields", "$set"):
        for k, v in arg.items():
            val = evaluate(v, ev)
            if val is MISSING:
                remove_path(ev, k)
            else:
                set_path(ev, k, val)
        return ev
    if name == "$unset":
        for k in ([arg] if isinstance(arg, str) else arg):
            remove_path(ev, k)
        return ev
    if name in ("$replaceRoot", "$replaceWith"):
        new = evaluate(arg["newRoot"] if name == "$replaceRoot" else arg, ev)
        if not isinstance(new, dict):
            raise PeerError(40228, "Location40228",
                            "'newRoot' expression must evaluate to an object")
        return new
    if name == "$redact":
        return ev
    return ev
