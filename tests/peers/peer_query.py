"""Query, expression, update and projection semantics for the MongoDB peer.

The subset of MongoDB's matching and update language that drivers, the
change-stream spec tests and changecast's mongo source send: comparison in
BSON type order, dotted paths through arrays, query operators, `$expr`
aggregation expressions, update operators (recording the change-event
`updateDescription` as they go) and simple projections.

Errors are raised as PeerError(code, codeName, errmsg) so the server can reply
the way mongod does.
"""

import datetime
import re

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from bson.binary import Binary
from bson.code import Code


class PeerError(Exception):
    """A command failure, shaped like mongod's {ok: 0, errmsg, code, codeName}."""

    def __init__(self, code, code_name, errmsg, labels=None):
        super().__init__(errmsg)
        self.code = code
        self.code_name = code_name
        self.errmsg = errmsg
        self.labels = labels or []


def bad_value(msg):
    return PeerError(2, "BadValue", msg)


class _Missing:
    """A path that resolves to nothing (sorts below null, as in MongoDB)."""

    def __repr__(self):
        return "MISSING"


MISSING = _Missing()


# --- comparison in BSON type order -------------------------------------------

def _rank(v):
    if v is MISSING:
        return 0
    if isinstance(v, MinKey):
        return 1
    if v is None:
        return 2
    if isinstance(v, bool):
        return 9
    if isinstance(v, (int, float, Decimal128)):
        return 3
    if isinstance(v, str):
        return 4
    if isinstance(v, dict):
        return 5
    if isinstance(v, list):
        return 6
    if isinstance(v, (bytes, Binary)):
        return 7
    if isinstance(v, ObjectId):
        return 8
    if isinstance(v, datetime.datetime):
        return 10
    if isinstance(v, Timestamp):
        return 11
    if isinstance(v, (Regex, re.Pattern)):
        return 12
    if isinstance(v, MaxKey):
        return 14
    return 13


def _num(v):
    if isinstance(v, Decimal128):
        return float(v.to_decimal())
    return v


def _cmp(a, b):
    return (a > b) - (a < b)


def compare(a, b):
    """Three-way comparison of two BSON values in MongoDB's sort order."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return _cmp(ra, rb)
    if ra == 3:
        return _cmp(_num(a), _num(b))
    if ra in (4, 8, 9, 10):
        return _cmp(a, b)
    if ra == 5:
        ia, ib = list(a.items()), list(b.items())
        for (ka, va), (kb, vb) in zip(ia, ib):
            c = compare(va, vb) or _cmp(ka, kb)
            if c:
                return c
        return _cmp(len(ia), len(ib))
    if ra == 6:
        for x, y in zip(a, b):
            c = compare(x, y)
            if c:
                return c
        return _cmp(len(a), len(b))
    if ra == 7:
        sa = getattr(a, "subtype", 0)
        sb = getattr(b, "subtype", 0)
        return _cmp(len(a), len(b)) or _cmp(sa, sb) or _cmp(bytes(a), bytes(b))
    if ra == 11:
        return _cmp((a.time, a.inc), (b.time, b.inc))
    if ra == 12:
        return _cmp(str(getattr(a, "pattern", a)), str(getattr(b, "pattern", b)))
    return 0


def equal(a, b):
    return compare(a, b) == 0


class SortKey:
    """Wraps a value so Python's sort uses MongoDB's order."""

    __slots__ = ("v", "desc")

    def __init__(self, v, desc=False):
        self.v = v
        self.desc = desc

    def __lt__(self, other):
        c = compare(self.v, other.v)
        return c > 0 if self.desc else c < 0


def id_key(v):
    """A hashable key for an _id under BSON equality (numbers by value)."""
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float, Decimal128)):
        n = _num(v)
        return ("n", n)
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, ObjectId):
        return ("o", v.binary)
    if isinstance(v, dict):
        return ("d", tuple((k, id_key(x)) for k, x in v.items()))
    if isinstance(v, list):
        return ("a", tuple(id_key(x) for x in v))
    if v is None:
        return ("z",)
    if isinstance(v, (bytes, Binary)):
        return ("y", getattr(v, "subtype", 0), bytes(v))
    if isinstance(v, datetime.datetime):
        return ("t", v)
    if isinstance(v, Timestamp):
        return ("T", v.time, v.inc)
    return ("r", repr(v))


# --- paths ---------------------------------------------------------------

def resolve(doc, parts):
    """Values at a dotted path, expanding arrays the way queries do."""
    if not parts:
        return [doc]
    if isinstance(doc, dict):
        if parts[0] in doc:
            return resolve(doc[parts[0]], parts[1:])
        return []
    if isinstance(doc, list):
        out = []
        if parts[0].isdigit():
            i = int(parts[0])
            if i < len(doc):
                out += resolve(doc[i], parts[1:])
        for e in doc:
            if isinstance(e, dict):
                out += resolve(e, parts)
        return out
    return []


def get_path(doc, path):
    """The single value at a dotted path (no array expansion), or MISSING."""
    cur = doc
    for p in path.split("."):
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            return MISSING
    return cur


# --- query matching -------------------------------------------------------------

def match(doc, query):
    """True when doc matches the query document."""
    for key, cond in query.items():
        if key == "$and":
            if not all(match(doc, q) for q in _clauses(key, cond)):
                return False
        elif key == "$or":
            if not any(match(doc, q) for q in _clauses(key, cond)):
                return False
        elif key == "$nor":
            if any(match(doc, q) for q in _clauses(key, cond)):
                return False
        elif key == "$expr":
            if not truthy(evaluate(cond, doc)):
                return False
        elif key == "$comment":
            continue
        elif key.startswith("$"):
            raise PeerError(2, "BadValue", "unknown top level operator: %s" % key)
        elif not match_field(resolve(doc, key.split(".")), cond):
            return False
    return True


def _clauses(op, cond):
    if not isinstance(cond, list) or not cond:
        raise bad_value("%s must be a nonempty array" % op)
    return cond


def _is_operator_doc(cond):
    return isinstance(cond, dict) and cond and next(iter(cond)).startswith("$")


def match_field(values, cond):
    if _is_operator_doc(cond):
        opts = cond.get("$options", "")
        for op, arg in cond.items():
            if op == "$options":
                continue
            if not _match_op(values, op, arg, opts):
                return False
        return True
    return _match_eq(values, cond)


def _expand(values):
    """The values and, for arrays, their elements (what a query compares)."""
    out = []
    for v in values:
        out.append(v)
        if isinstance(v, list):
            out.extend(v)
    return out


def _match_eq(values, target):
    if isinstance(target, (Regex, re.Pattern)):
        return _match_regex(values, target)
    if target is None and not values:
        return True
    return any(equal(v, target) for v in _expand(values))


def _match_regex(values, rx, opts=""):
    if isinstance(rx, Regex):
        rx = rx.try_compile()
    elif isinstance(rx, str):
        flags = 0
        for ch, f in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)):
            if ch in opts:
                flags |= f
        rx = re.compile(rx, flags)
    return any(isinstance(v, str) and rx.search(v) for v in _expand(values))


def _cmp_op(values, arg, ok):
    for v in _expand(values):
        if _rank(v) == _rank(arg) or (isinstance(v, (int, float)) and
                                      isinstance(arg, (int, float))):
            if ok(compare(v, arg)):
                return True
    return False


def _match_op(values, op, arg, opts):
    if op == "$eq":
        return _match_eq(values, arg)
    if op == "$ne":
        return not _match_eq(values, arg)
    if op == "$gt":
        return _cmp_op(values, arg, lambda c: c > 0)
    if op == "$gte":
        return _cmp_op(values, arg, lambda c: c >= 0)
    if op == "$lt":
        return _cmp_op(values, arg, lambda c: c < 0)
    if op == "$lte":
        return _cmp_op(values, arg, lambda c: c <= 0)
    if op == "$in":
        if not isinstance(arg, list):
            raise bad_value("$in needs an array")
        return any(_match_eq(values, a) for a in arg)
    if op == "$nin":
        if not isinstance(arg, list):
            raise bad_value("$nin needs an array")
        return not any(_match_eq(values, a) for a in arg)
    if op == "$exists":
        return bool(values) == truthy(arg)
    if op == "$not":
        return not match_field(values, arg)
    if op == "$regex":
        return _match_regex(values, arg, opts)
    if op == "$size":
        return any(isinstance(v, list) and len(v) == arg for v in values)
    if op == "$all":
        return all(_match_eq(values, a) for a in arg)
    if op == "$elemMatch":
        for v in values:
            if isinstance(v, list):
                for e in v:
                    if (match(e, arg) if isinstance(e, dict) and not _is_operator_doc(arg)
                            else match_field([e], arg)):
                        return True
        return False
    if op == "$type":
        names = arg if isinstance(arg, list) else [arg]
        return any(_type_name(v) in names or _type_code(v) in names or
                   ("number" in names and _rank(v) == 3) for v in _expand(values))
    raise PeerError(2, "BadValue", "unknown operator: %s" % op)


_TYPES = [("double", 1, float), ("string", 2, str), ("object", 3, dict),
          ("array", 4, list), ("objectId", 7, ObjectId), ("bool", 8, bool),
          ("date", 9, datetime.datetime), ("null", 10, type(None)),
          ("timestamp", 17, Timestamp), ("long", 18, Int64),
          ("decimal", 19, Decimal128), ("binData", 5, (bytes, Binary))]


def _type_name(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Int64):
        return "long"
    if isinstance(v, int):
        return "int"
    for name, _, t in _TYPES:
        if isinstance(v, t):
            return name
    return "unknown"


def _type_code(v):
    name = _type_name(v)
    if name == "int":
        return 16
    for n, code, _ in _TYPES:
        if n == name:
            return code
    return -1


# --- aggregation expressions ---------------------------------------------------

def truthy(v):
    if v is MISSING or v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0:
        return False
    return True


def _args(arg, n=None, doc=None):
    vals = arg if isinstance(arg, list) else [arg]
    if n is not None and len(vals) != n:
        raise PeerError(16020, "Location16020",
                        "Expression takes exactly %d arguments. %d were passed in."
                        % (n, len(vals)))
    return [evaluate(a, doc) for a in vals]


def evaluate(expr, doc):
    """Evaluates an aggregation expression against doc ($$ROOT)."""
    if isinstance(expr, str):
        if expr.startswith("$$ROOT"):
            rest = expr[len("$$ROOT"):]
            return get_path(doc, rest[1:]) if rest.startswith(".") else doc
        if expr.startswith("$$"):
            raise PeerError(17276, "Location17276", "Use of undefined variable: %s" % expr[2:])
        if expr.startswith("$"):
            return get_path(doc, expr[1:])
        return expr
    if isinstance(expr, list):
        return [evaluate(e, doc) for e in expr]
    if isinstance(expr, dict):
        if len(expr) == 1 and next(iter(expr)).startswith("$"):
            op, arg = next(iter(expr.items()))
            return _operator(op, arg, doc)
        return {k: evaluate(v, doc) for k, v in expr.items()}
    return expr


def _operator(op, arg, doc):
    if op == "$literal":
        return arg
    cmps = {"$eq": lambda c: c == 0, "$ne": lambda c: c != 0, "$gt": lambda c: c > 0,
            "$gte": lambda c: c >= 0, "$lt": lambda c: c < 0, "$lte": lambda c: c <= 0}
    if op in cmps:
        a, b = _args(arg, 2, doc)
        a = None if a is MISSING else a
        b = None if b is MISSING else b
        return cmps[op](compare(a, b))
    if op == "$cmp":
        a, b = _args(arg, 2, doc)
        return compare(a, b)
    if op == "$and":
        return all(truthy(v) for v in _args(arg, None, doc))
    if op == "$or":
        return any(truthy(v) for v in _args(arg, None, doc))
    if op == "$not":
        return not truthy(_args(arg, 1, doc)[0])
    if op == "$in":
        a, b = _args(arg, 2, doc)
        if not isinstance(b, list):
            raise PeerError(40081, "Location40081", "$in requires an array as a second argument")
        return any(equal(a, x) for x in b)
    if op == "$ifNull":
        vals = _args(arg, None, doc)
        for v in vals[:-1]:
            if v is not MISSING and v is not None:
                return v
        return vals[-1]
    if op == "$cond":
        if isinstance(arg, dict):
            c, t, f = arg.get("if"), arg.get("then"), arg.get("else")
        else:
            c, t, f = arg
        return evaluate(t, doc) if truthy(evaluate(c, doc)) else evaluate(f, doc)
    if op in ("$add", "$multiply"):
        vals = [_num(v) for v in _args(arg, None, doc)]
        if any(v is MISSING or v is None for v in vals):
            return None
        out = 0 if op == "$add" else 1
        for v in vals:
            out = out + v if op == "$add" else out * v
        return out
    if op in ("$subtract", "$divide"):
        a, b = (_num(v) for v in _args(arg, 2, doc))
        if a in (None, MISSING) or b in (None, MISSING):
            return None
        return a - b if op == "$subtract" else a / b
    if op == "$concat":
        vals = _args(arg, None, doc)
        if any(not isinstance(v, str) for v in vals):
            return None
        return "".join(vals)
    if op == "$toLower":
        v = _args(arg, 1, doc)[0]
        return v.lower() if isinstance(v, str) else ""
    if op == "$toUpper":
        v = _args(arg, 1, doc)[0]
        return v.upper() if isinstance(v, str) else ""
    if op == "$size":
        v = _args(arg, 1, doc)[0]
        if not isinstance(v, list):
            raise PeerError(17124, "Location17124", "The argument to $size must be an array")
        return len(v)
    if op == "$type":
        v = _args(arg, 1, doc)[0]
        return "missing" if v is MISSING else _type_name(v)
    raise PeerError(168, "InvalidPipelineOperator", "Unrecognized expression '%s'" % op)


# --- updates --------------------------------------------------------------

class UpdateResult:
    """What an update did: changed paths for the change event."""

    def __init__(self):
        self.updated = {}
        self.removed = []

    def set(self, path, value):
        if path in self.removed:
            self.removed.remove(path)
        self.updated[path] = value

    def unset(self, path):
        self.updated.pop(path, None)
        if path not in self.removed:
            self.removed.append(path)


def is_update_doc(u):
    return isinstance(u, dict) and u and next(iter(u)).startswith("$")


def check_replacement(u):
    for k in u:
        if k.startswith("$"):
            raise PeerError(9, "FailedToParse", "Unknown modifier: %s" % k)


def _walk_create(doc, path):
    """The parent container of path's last part, creating documents on the way."""
    parts = path.split(".")
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, list):
            if not p.isdigit():
                raise PeerError(28, "PathNotViable", "Cannot create field '%s' in array" % p)
            i = int(p)
            while len(cur) <= i:
                cur.append(None)
            if not isinstance(cur[i], (dict, list)):
                cur[i] = {}
            cur = cur[i]
        else:
            nxt = cur.get(p)
            if nxt is None or p not in cur:
                cur[p] = {}
            elif not isinstance(nxt, (dict, list)):
                raise PeerError(28, "PathNotViable",
                                "Cannot create field '%s' in element {%s: %r}"
                                % (parts[-1], p, nxt))
            cur = cur[p]
    return cur, parts[-1]


def _put(container, key, value):
    if isinstance(container, list):
        i = int(key)
        while len(container) <= i:
            container.append(None)
        container[i] = value
    else:
        container[key] = value


def _take(container, key):
    if isinstance(container, list):
        return container[int(key)] if key.isdigit() and int(key) < len(container) else MISSING
    return container.get(key, MISSING)


def apply_update(doc, update, inserting=False):
    """Applies update operators to doc in place; returns an UpdateResult."""
    res = UpdateResult()
    for op, fields in update.items():
        if not isinstance(fields, dict):
            raise PeerError(9, "FailedToParse",
                            "Modifiers operate on fields but we found type %s instead."
                            % type(fields).__name__)
        for path, arg in fields.items():
            if path == "_id" and op not in ("$setOnInsert",) and not inserting:
                old = doc.get("_id", MISSING)
                if op == "$set" and equal(old, arg):
                    continue
                raise PeerError(66, "ImmutableField",
                                "Performing an update on the path '_id' would modify the "
                                "immutable field '_id'")
            _apply_one(doc, op, path, arg, res, inserting)
    return res


def _apply_one(doc, op, path, arg, res, inserting):
    if op == "$set" or (op == "$setOnInsert" and inserting):
        parent, key = _walk_create(doc, path)
        if not equal(_take(parent, key), arg) or _take(parent, key) is MISSING:
            _put(parent, key, arg)
            res.set(path, arg)
    elif op == "$setOnInsert":
        return
    elif op == "$unset":
        v = get_path(doc, path)
        if v is not MISSING:
            parent, key = _walk_create(doc, path)
            if isinstance(parent, list):
                parent[int(key)] = None
                res.set(path, None)
            else:
                del parent[key]
                res.unset(path)
    elif op in ("$inc", "$mul", "$min", "$max"):
        parent, key = _walk_create(doc, path)
        cur = _take(parent, key)
        if op in ("$inc", "$mul"):
            if not isinstance(arg, (int, float, Decimal128)) or isinstance(arg, bool):
                raise PeerError(14, "TypeMismatch", "Cannot %s with non-numeric argument: {%s: %r}"
                                % ("increment" if op == "$inc" else "multiply", path, arg))
            if cur is MISSING:
                new = arg if op == "$inc" else type(arg)(0)
            elif not isinstance(cur, (int, float)) or isinstance(cur, bool):
                raise PeerError(14, "TypeMismatch",
                                "Cannot apply %s to a value of non-numeric type. "
                                "{_id: %r} has the field '%s' of non-numeric type %s"
                                % (op, doc.get("_id"), key, _type_name(cur)))
            else:
                new = cur + arg if op == "$inc" else cur * arg
                if isinstance(cur, Int64) or isinstance(arg, Int64):
                    if not isinstance(new, float):
                        new = Int64(new)
        else:
            want = compare(arg, cur) if cur is not MISSING else (-1 if op == "$min" else 1)
            if cur is not MISSING and ((op == "$min" and want >= 0) or
                                       (op == "$max" and want <= 0)):
                return
            new = arg
        if cur is MISSING or not equal(cur, new) or type(cur) is not type(new):
            _put(parent, key, new)
            res.set(path, new)
    elif op in ("$push", "$addToSet"):
        parent, key = _walk_create(doc, path)
        cur = _take(parent, key)
        if cur is MISSING:
            cur = []
            _put(parent, key, cur)
            fresh = True
        elif not isinstance(cur, list):
            raise PeerError(2, "BadValue", "The field '%s' must be an array but is of type %s "
                            "in document {_id: %r}" % (path, _type_name(cur), doc.get("_id")))
        else:
            fresh = False
        items = arg["$each"] if isinstance(arg, dict) and "$each" in arg else [arg]
        start = len(cur)
        for it in items:
            if op == "$addToSet" and any(equal(it, x) for x in cur):
                continue
            cur.append(it)
        if fresh:
            res.set(path, cur)
        else:
            for i in range(start, len(cur)):
                res.set("%s.%d" % (path, i), cur[i])
    elif op in ("$pull", "$pop"):
        parent, key = _walk_create(doc, path)
        cur = _take(parent, key)
        if not isinstance(cur, list):
            return
        if op == "$pop":
            if cur:
                cur.pop(0 if arg == -1 else -1)
                res.set(path, cur)
            return
        keep = [x for x in cur if not (match(x, arg) if isinstance(arg, dict) and
                                       isinstance(x, dict) and not _is_operator_doc(arg)
                                       else match_field([x], arg))]
        if len(keep) != len(cur):
            _put(parent, key, keep)
            res.set(path, keep)
    elif op == "$rename":
        v = get_path(doc, path)
        if v is MISSING:
            return
        parent, key = _walk_create(doc, path)
        del parent[key]
        res.unset(path)
        parent2, key2 = _walk_create(doc, arg)
        _put(parent2, key2, v)
        res.set(arg, v)
    elif op == "$currentDate":
        now = datetime.datetime.utcnow().replace(microsecond=0)
        parent, key = _walk_create(doc, path)
        _put(parent, key, now)
        res.set(path, now)
    else:
        raise PeerError(9, "FailedToParse", "Unknown modifier: %s. Expected a valid update "
                        "modifier or pipeline-style update specified as an array" % op)


def upsert_seed(query):
    """The document an upsert starts from: the query's equality fields."""
    doc = {}
    for k, v in query.items():
        if k.startswith("$"):
            if k == "$and":
                for q in v:
                    for kk, vv in upsert_seed(q).items():
                        doc[kk] = vv
            continue
        if _is_operator_doc(v):
            if "$eq" in v:
                v = v["$eq"]
            else:
                continue
        parent, key = _walk_create(doc, k)
        _put(parent, key, v)
    return doc


# --- projection and sort ---------------------------------------------------------

def _is_literal_projection(v):
    """A $project value that computes a field rather than including/excluding one."""
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return False
    if isinstance(v, dict):
        return _is_operator_doc(v)
    return True


def _excludes(spec):
    return all(not truthy(v) and not _is_literal_projection(v) and not isinstance(v, dict)
               for k, v in spec.items() if k != "_id")


def project(doc, spec, root=None):
    """$project / find projection: inclusion (with computed fields and nested
    specs) or exclusion (dotted paths allowed)."""
    if not spec:
        return doc
    root = doc if root is None else root
    if _excludes(spec) and not (len(spec) == 1 and "_id" in spec and truthy(spec["_id"])):
        out = copy_doc(doc)
        for k, v in spec.items():
            if not truthy(v):
                remove_path(out, k)
        return out
    out = {}
    if "_id" not in spec or (truthy(spec["_id"]) and not _is_literal_projection(spec["_id"])):
        if isinstance(doc, dict) and "_id" in doc:
            out["_id"] = doc["_id"]
    for k, v in spec.items():
        if k == "_id" and not _is_literal_projection(v):
            continue
        if _is_literal_projection(v):
            val = evaluate(v, root)
        elif isinstance(v, dict):
            sub = get_path(doc, k)
            if not isinstance(sub, dict):
                sub = {}
            val = project(sub, v, root)
            if "_id" in val and "_id" not in v:
                del val["_id"]
        elif truthy(v):
            val = get_path(doc, k)
        else:
            continue
        if val is not MISSING:
            parent, key = _walk_create(out, k)
            _put(parent, key, val)
    return out


def diff_docs(old, new, prefix="", res=None):
    """(updatedFields, removedFields, truncatedArrays) between two versions of
    a document, the way mongod describes a pipeline-style update."""
    if res is None:
        res = ({}, [], [])
    for k in old:
        if k not in new:
            res[1].append(prefix + k)
    for k, v in new.items():
        path = prefix + k
        if k not in old:
            res[0][path] = v
            continue
        _diff_value(old[k], v, path, res)
    return res


def _diff_value(a, b, path, res):
    if isinstance(a, dict) and isinstance(b, dict):
        if not equal(a, b):
            diff_docs(a, b, path + ".", res)
    elif isinstance(a, list) and isinstance(b, list):
        if len(b) < len(a):
            res[2].append({"field": path, "newSize": len(b)})
        for i, x in enumerate(b):
            if i >= len(a):
                res[0]["%s.%d" % (path, i)] = x
            else:
                _diff_value(a[i], x, "%s.%d" % (path, i), res)
    elif compare(a, b) != 0 or _type_name(a) != _type_name(b):
        res[0][path] = b


def remove_path(doc, path):
    parts = path.split(".")
    cur = doc
    for p in parts[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return
        cur = cur[p]
    if isinstance(cur, dict):
        cur.pop(parts[-1], None)


def set_path(doc, path, value):
    parent, key = _walk_create(doc, path)
    _put(parent, key, value)


def copy_doc(v):
    """A deep copy of plain BSON containers (leaf values are immutable)."""
    if isinstance(v, dict):
        return {k: copy_doc(x) for k, x in v.items()}
    if isinstance(v, list):
        return [copy_doc(x) for x in v]
    return v


def sort_docs(docs, spec):
    for field, direction in reversed(list(spec.items())):
        if field == "$natural":     # storage order
            if direction == -1:
                docs.reverse()
            continue
        desc = direction == -1 or direction == Int64(-1)
        docs.sort(key=lambda d, f=field, r=desc: SortKey(get_path(d, f), r))
    return docs


def check_code(v):
    return isinstance(v, Code)
