"""The websocket sink's JWT auth: HS256 tokens built here with hmac (no JWT
library), presented by query, Authorization: Bearer or
Sec-WebSocket-Protocol (echoed back in the 101). Valid -> 101 and events;
wrong recipient -> 403; expired, not yet valid, bad signature, alg none,
another algorithm, malformed, missing -> 401, and a refused client gets
nothing while an admitted one keeps receiving."""

import json
import time

import pytest

from cchelpers import poll
from wshelpers import JWT_SECRET, NodeClient, SSEReader, b64url, change, jwt, seq, start_ws


def now():
    return int(time.time())


@pytest.fixture
def ws(tmp_path, plugin_dir, daemon):
    s = start_ws(tmp_path, plugin_dir, daemon, env={"JWT_SECRET": JWT_SECRET},
                 config={"auth": {"jwt_secret": "${JWT_SECRET}", "recipient_claim": "sub",
                                  "token_param": "token"}})
    yield s
    s.stop()


def good(sub="user_1", **extra):
    c = {"sub": sub, "exp": now() + 3600}
    c.update(extra)
    return jwt(c)


def test_valid_token_by_query_bearer_and_subprotocol(ws):
    by_query = ws.connect("/ws/user_1?token=" + good())
    by_bearer = ws.connect("/ws/user_1", headers={"Authorization": "Bearer " + good()})
    t = good()
    by_proto = ws.connect("/ws/user_1", protocols=[t])
    assert by_proto.headers.get("sec-websocket-protocol") == t, by_proto.headers
    assert "sec-websocket-protocol" not in by_query.headers
    # A browser-style pair [name, token]: the token is the item echoed.
    t2 = good()
    pair = ws.connect("/ws/user_1", protocols=["changecast", t2])
    assert pair.headers.get("sec-websocket-protocol") == t2, pair.headers
    ws.wait_connections(4)
    ws.emit(change(0, owner="user_2"), change(1, owner="user_1"), change(2))
    for c in (by_query, by_bearer, by_proto, pair):
        assert [seq(e) for e in c.recv_until(lambda e: seq(e) == 2)] == [1, 2]


def test_node_ws_client_with_the_token_as_subprotocol(ws):
    """As a browser does it: new WebSocket(url, [token]); the `ws` package
    checks that the server echoes the protocol."""
    t = good()
    node = NodeClient("ws://127.0.0.1:%d/ws/user_1" % ws.port, 2, protocols=[t])
    assert node.next() == {"open": True, "protocol": t}
    ws.wait_connections(1)
    ws.emit(change(0, owner="user_2"), change(1, owner="user_1"), change(2))
    assert [seq(node.next()["message"]) for _ in range(2)] == [1, 2]
    assert node.wait() == 0
    refused = NodeClient("ws://127.0.0.1:%d/ws/user_1" % ws.port, 1,
                         protocols=[good(sub="user_2")])
    assert refused.next() == {"refused": 403}
    refused.stop()


def tamper(tok):
    """The same token with its signature's first character changed."""
    head, body, sig = tok.split(".")
    return "%s.%s.%s%s" % (head, body, "B" if sig[0] == "A" else "A", sig[1:])


REFUSED = [
    ("wrong recipient", lambda: good(sub="user_2"), 403),
    ("no recipient claim", lambda: jwt({"exp": now() + 3600}), 403),
    ("expired", lambda: good(exp=now() - 10), 401),
    ("not yet valid", lambda: good(nbf=now() + 3600), 401),
    ("bad signature", lambda: tamper(good()), 401),
    ("another secret", lambda: jwt({"sub": "user_1", "exp": now() + 3600}, secret="other"), 401),
    ("alg none", lambda: jwt({"sub": "user_1", "exp": now() + 3600}, alg="none"), 401),
    ("alg HS512", lambda: jwt({"sub": "user_1", "exp": now() + 3600}, alg="HS512"), 401),
    ("malformed", lambda: "not-a-jwt", 401),
    ("two parts", lambda: ".".join(good().split(".")[:2]), 401),
    ("payload not JSON", lambda: b64url(b'{"alg":"HS256"}') + "." + b64url(b"nope") + ".x", 401),
    ("missing", lambda: None, 401),
]


@pytest.mark.parametrize("make,status", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_tokens(ws, make, status):
    admitted = ws.connect("/ws/user_1?token=" + good())
    tok = make()
    for how in ("query", "bearer", "protocol"):
        if tok is None and how != "query":
            continue
        path, headers, protocols = "/ws/user_1", None, None
        if how == "query" and tok is not None:
            path += "?token=" + tok
        elif how == "bearer":
            headers = {"Authorization": "Bearer " + tok}
        elif how == "protocol":
            if tok.count(".") != 2:
                continue        # not shaped like a JWT: not taken from the list
            protocols = [tok]
        c = ws.connect(path, headers=headers, protocols=protocols, expect_refusal=True)
        assert c.status == status, how
        c.shutdown()
    ws.emit(change(7, owner="user_1"))
    assert seq(admitted.recv_json()) == 7
    ws.wait_connections(1)


def test_refused_sse_and_admitted_sse(ws):
    bad = SSEReader("http://127.0.0.1:%d/sse/user_1?token=%s" % (ws.port, good(sub="x")))
    ok = SSEReader("http://127.0.0.1:%d/sse/user_1" % ws.port,
                   headers={"Authorization": "Bearer " + good()})
    try:
        assert bad.wait_head() == 403
        assert ok.wait_head() == 200
        poll(lambda: ws.connections() == 1, 10, "one SSE subscriber")
        ws.emit(change(0, owner="user_1"))
        assert seq(json.loads(ok.next()["data"])) == 0
    finally:
        bad.stop()
        ok.stop()


def test_broadcast_path_needs_a_valid_token(ws):
    assert ws.connect("/ws", expect_refusal=True).status == 401
    c = ws.connect("/ws?token=" + good(sub="anyone"))
    ws.emit(change(0, owner="user_1"), change(1))
    assert seq(c.recv_json()) == 1
