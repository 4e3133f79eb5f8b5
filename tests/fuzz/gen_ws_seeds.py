#!/usr/bin/python3
"""Writes the seed corpora of fuzz_ws_frame and fuzz_ws_http:
tests/fuzz/corpus/ws_frame/ and tests/fuzz/corpus/ws_http/.

Run from anywhere: python3 tests/fuzz/gen_ws_seeds.py. The seeds are
realistic inputs (what browsers and common clients send) plus the classic
abuses, so the fuzzers start from deep inside both parsers.
ws_frame seed layout: byte 0 picks max_message (index into 1, 16, 125,
1000, 65536, 1 MiB), byte 1 seeds the read sizes, then the client bytes.
"""
import base64
import hashlib
import hmac
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
MASK = b"\x37\xfa\x21\x3d"


def frame(op, payload=b"", fin=True, mask=True, rsv=0, form=None):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    m = 0x80 if mask else 0
    if form is None:
        form = 0 if n < 126 else 126 if n <= 0xFFFF else 127
    if form == 0:
        hdr = bytes([b0, m | n])
    elif form == 126:
        hdr = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return hdr + payload
    body = bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))
    return hdr + MASK + body


def close(code, reason=b""):
    return frame(8, struct.pack(">H", code) + reason)


ENVELOPE = json.dumps({"operation": "update", "collection": "users", "document_id": "user_123",
                       "data": {"fullDocument.name": "Ada"}}).encode()

FRAMES = {
    "hello": (3, frame(1, b"Hello")),
    "rfc_hello": (3, bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])),
    "envelope_text": (4, frame(1, ENVELOPE)),
    "binary": (3, frame(2, bytes(range(64)))),
    "fragmented_text": (3, frame(1, b"Hel", fin=False) + frame(0, b"lo")),
    "fragmented_ping_between": (3, frame(1, b"Hel", fin=False) + frame(9, b"hi") + frame(0, b"lo")),
    "utf8_split": (3, frame(1, b"\xe2\x82", fin=False) + frame(0, b"\xac ok")),
    "ping_pong_close": (3, frame(9, b"ping") + frame(10, b"") + close(1000, b"bye")),
    "close_empty": (3, frame(8)),
    "close_going_away": (3, close(1001, "d\u00e9part".encode())),
    "len126": (4, frame(2, b"x" * 300)),
    "len127": (5, frame(2, b"y" * 70000)),
    "many_small": (3, b"".join(frame(1, b"m%d" % i) for i in range(40))),
    "empty_fragments": (3, frame(2, fin=False) + frame(0, fin=False) + frame(0)),
    "bad_unmasked": (3, frame(1, b"hi", mask=False)),
    "bad_rsv1": (3, frame(1, b"hi", rsv=0x40)),
    "bad_opcode3": (3, frame(3, b"hi")),
    "bad_opcode_b": (3, frame(11, b"hi")),
    "bad_fragmented_ping": (3, frame(9, b"hi", fin=False)),
    "bad_long_ping": (3, frame(9, b"p" * 126)),
    "bad_orphan_continuation": (3, frame(0, b"x")),
    "bad_nested_start": (3, frame(1, b"a", fin=False) + frame(1, b"b")),
    "bad_nonminimal_126": (3, frame(1, b"abc", form=126)),
    "bad_nonminimal_127": (3, frame(1, b"abc", form=127)),
    "bad_top_bit": (3, bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1]) + MASK + b"z"),
    "bad_oversized": (1, frame(1, b"z" * 40)),
    "bad_oversized_fragments": (1, frame(1, b"a" * 10, fin=False) + frame(0, b"b" * 10)),
    "bad_utf8": (3, frame(1, b"ok\xc0\x80")),
    "bad_utf8_truncated": (3, frame(1, b"ok\xe2\x82", fin=False) + frame(0, b"")),
    "bad_surrogate": (3, frame(1, b"\xed\xa0\x80")),
    "bad_close_1byte": (3, frame(8, b"\x03")),
    "bad_close_code_1005": (3, close(1005)),
    "bad_close_reason": (3, close(1000, b"\xff")),
    "huge_announced": (5, bytes([0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0]) + MASK + b"partial"),
}


def upgrade(path="/ws/user_123", extra="", method="GET", version="HTTP/1.1", key="dGhlIHNhbXBsZSBub25jZQ=="):
    head = (f"{method} {path} {version}\r\nHost: localhost:8000\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra}\r\n")
    return head.encode()


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(payload, alg="HS256", key=b"fuzz-secret"):
    h = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    p = b64u(json.dumps(payload).encode())
    mac = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}.get(alg)
    sig = b64u(hmac.new(key, f"{h}.{p}".encode(), mac).digest()) if mac else ""
    return f"{h}.{p}.{sig}"


GOOD = jwt({"sub": "user_123", "exp": 1745257787})
HTTP = {
    "chrome": upgrade(extra="Origin: http://localhost:8000\r\nUser-Agent: Mozilla/5.0 Chrome/120\r\n"
                            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                            "Pragma: no-cache\r\nCache-Control: no-cache\r\n") + b"\x81\x85" + MASK,
    "python_websockets": upgrade(extra="User-Agent: Python/3.11 websockets/10.4\r\n"),
    "node_ws": b"GET /ws/user_123 HTTP/1.1\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nConnection: Upgrade\r\n"
               b"Upgrade: websocket\r\nSec-WebSocket-Extensions: permessage-deflate\r\nHost: 127.0.0.1:8000\r\n\r\n",
    "token_query": upgrade(path=f"/ws/user_123?token={GOOD}&last_event_id=826806%3Auser_123"),
    "token_bearer": upgrade(extra=f"Authorization: Bearer {GOOD}\r\n"),
    "token_subprotocol": upgrade(extra=f"Sec-WebSocket-Protocol: bearer, {GOOD}\r\n"),
    "token_int_sub": upgrade(path="/ws/42", extra=f"Authorization: Bearer {jwt({'sub': 42})}\r\n"),
    "token_expired": upgrade(path=f"/ws/user_123?token={jwt({'sub': 'user_123', 'exp': 1})}"),
    "token_alg_none": upgrade(path=f"/ws/user_123?token={jwt({'sub': 'user_123'}, alg='none')}"),
    "token_hs512": upgrade(path=f"/ws/user_123?token={jwt({'sub': 'user_123'}, alg='HS512')}"),
    "token_wrong_key": upgrade(path=f"/ws/user_123?token={jwt({'sub': 'user_123'}, key=b'other')}"),
    "token_garbage": upgrade(path="/ws/user_123?token=a.b.c"),
    "sse": b"GET /sse/user_123 HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\nLast-Event-ID: 8268:u\r\n\r\n",
    "viewer": b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nAccept: text/html\r\nConnection: keep-alive\r\n\r\n",
    "healthz_http10": b"GET /healthz HTTP/1.0\r\n\r\n",
    "absolute_form": upgrade(path="http://localhost:8000/ws/user_123?x=1"),
    "percent_path": upgrade(path="/ws/a%20b%2Fc?q=%E2%82%AC+x&flag&&y="),
    "bad_version_header": upgrade().replace(b"Version: 13", b"Version: 8"),
    "bad_key": upgrade(key="short"),
    "bad_method": upgrade(method="POST"),
    "bad_http10_upgrade": upgrade(version="HTTP/1.0"),
    "bad_http2": upgrade(version="HTTP/2.0"),
    "bad_bare_lf": b"GET / HTTP/1.1\nHost: h\n\n",
    "bad_obs_fold": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    "bad_space_colon": b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "bad_no_host": b"GET / HTTP/1.1\r\n\r\n",
    "bad_nul_escape": b"GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n",
    "bad_tls_hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),
    "long_target": b"GET /" + b"a" * 4200 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    "many_headers": b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(70)) + b"\r\n",
    "incomplete": b"GET /ws/user_123 HTTP/1.1\r\nHost: localhost\r\nUpgr",
}


def write(folder, items):
    path = os.path.join(ROOT, folder)
    os.makedirs(path, exist_ok=True)
    for name, data in items.items():
        with open(os.path.join(path, name + ".bin"), "wb") as f:
            f.write(data)


write("ws_frame", {name: bytes([sel, 7]) + data for name, (sel, data) in FRAMES.items()})
write("ws_http", HTTP)
