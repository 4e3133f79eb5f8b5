#!/usr/bin/python3
"""Generate MongoDB change events as JSON lines, for the jsonl source.

    gen_changes.py N OUT.jsonl [--size 300] [--start 0] [--append]

Writes N change events (canonical Extended JSON, one per line, as mongosh or a
driver prints them) to OUT.jsonl ("-" for stdout). Event k (counting from
--start) is deterministic:

- operationType cycles through insert, update, replace, delete (mostly inserts
  and updates: 4 inserts, 3 updates, 2 replaces, 1 delete in every 10);
- the resume token `_id._data` is "82" + k as 16 upper-case hex digits +
  "0004", so tokens are unique and sort (as text) in event order;
- clusterTime is {"t": 1745257727 + k // 1000, "i": k % 1000 + 1};
- the document `_id` is "d<k % 5000>" and fullDocument.owner is
  "user_<k % 97>" (the recipient); fullDocument.seq is k. A delete carries
  the document in fullDocumentBeforeChange (a pre-image) instead;
- a "pad" string brings each line to about --size bytes.

Importable: `event_line(k, size)`, `event(k, size)`, `write_changes(path, n,
size, start, append)`, `token(k)`, `OPS`.
"""

import argparse
import json
import sys

BASE_T = 1745257727
OPS = ("insert", "update", "insert", "replace", "update",
       "insert", "delete", "update", "insert", "replace")
NAMES = ("Ada", "Grace", "Edsger", "Barbara", "Ken", "Dennis", "Margaret", "Alan")


def token(k):
    """The resume token `_data` of event k."""
    return "82%016X0004" % k


def op(k):
    return OPS[k % len(OPS)]


def owner(k):
    return "user_%d" % (k % 97)


def doc_id(k):
    return "d%d" % (k % 5000)


# Templates: the pad is the last field of the document so the line length is
# easy to adjust. %(pad)s is filled last.
_HEAD = ('{"_id":{"_data":"%(tok)s"},"operationType":"%(op)s",'
         '"clusterTime":{"$timestamp":{"t":%(t)d,"i":%(i)d}},'
         '"ns":{"db":"test","coll":"users"},"documentKey":{"_id":"%(id)s"}')
_DOC = '{"_id":"%(id)s","owner":"%(owner)s","seq":%(seq)d,"name":"%(name)s","pad":"%(pad)s"}'
_TEMPLATES = {
    "insert": _HEAD + ',"fullDocument":' + _DOC + '}',
    "replace": _HEAD + ',"fullDocument":' + _DOC + '}',
    "update": _HEAD + ',"updateDescription":{"updatedFields":{"seq":%(seq)d,"name":"%(name)s"},'
                      '"removedFields":["old"]},"fullDocument":' + _DOC + '}',
    "delete": _HEAD + ',"fullDocumentBeforeChange":' + _DOC + '}',
}


def event_line(k, size=300):
    """Event k as one JSON line (without the newline)."""
    o = OPS[k % 10]
    line = _TEMPLATES[o] % {"tok": "82%016X0004" % k, "op": o, "t": BASE_T + k // 1000,
                            "i": k % 1000 + 1, "id": "d%d" % (k % 5000),
                            "owner": "user_%d" % (k % 97), "seq": k, "name": NAMES[k % 8],
                            "pad": ""}
    # The pad is the document's last field: the line ends with `"pad":""}}`.
    pad = size - 1 - len(line)
    if pad > 0:
        line = line[:-3] + "x" * pad + line[-3:]
    return line


def event(k, size=300):
    """Event k, parsed."""
    return json.loads(event_line(k, size))


def write_changes(path, n, size=300, start=0, append=False):
    """Writes events start .. start+n-1 to `path` ("-" = stdout). Returns the
    number of bytes written."""
    out = sys.stdout.buffer if path == "-" else open(path, "ab" if append else "wb")
    total = 0
    try:
        chunk = []
        for k in range(start, start + n):
            chunk.append(event_line(k, size))
            if len(chunk) == 4096:
                data = ("\n".join(chunk) + "\n").encode()
                out.write(data)
                total += len(data)
                chunk = []
        if chunk:
            data = ("\n".join(chunk) + "\n").encode()
            out.write(data)
            total += len(data)
        out.flush()
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of events")
    ap.add_argument("out", help='output file, or "-" for stdout')
    ap.add_argument("--size", type=int, default=300, help="approximate bytes per line")
    ap.add_argument("--start", type=int, default=0, help="sequence number of the first event")
    ap.add_argument("--append", action="store_true", help="append instead of truncating")
    a = ap.parse_args(argv)
    if a.n < 0 or a.start < 0:
        ap.error("N and --start must be >= 0")
    write_changes(a.out, a.n, a.size, a.start, a.append)
    return 0


if __name__ == "__main__":
    sys.exit(main())
