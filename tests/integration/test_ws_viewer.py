"""The viewer page (GET / on the websocket listener) in Debian's headless
Chromium, driven over the DevTools protocol with python-websockets: the page
connects, events emitted afterwards appear in #feed, the collection and
operation filters hide the others, and a screenshot is kept as the test
artifact tests/artifacts/viewer.png."""

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from cchelpers import SOURCE_ROOT, poll, timeout
from wshelpers import JWT_SECRET, change, jwt, start_ws

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACT = SOURCE_ROOT / "tests" / "artifacts" / "viewer.png"


class Chromium:
    """A headless Chromium in its own process group (killed as a group: the
    Debian wrapper script starts the real binary and its helpers)."""

    def __init__(self, profile):
        self.profile = Path(profile)
        self.log = open(self.profile.parent / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--remote-debugging-port=0", "--user-data-dir=%s" % self.profile,
             "--window-size=1200,900", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True)

    def devtools_port(self):
        active = self.profile / "DevToolsActivePort"

        def port():
            if self.proc.poll() is not None:
                pytest.fail("chromium exited with %s; see %s" % (self.proc.returncode,
                                                                  self.log.name))
            try:
                return int(active.read_text().split("\n")[0])
            except (OSError, ValueError, IndexError):
                return None
        return poll(port, 60, "chromium's DevToolsActivePort", interval=0.1)

    def page_ws_url(self):
        port = self.devtools_port()

        def page():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                        timeout=timeout(10)) as r:
                for t in json.load(r):
                    if t.get("type") == "page" and t.get("webSocketDebuggerUrl"):
                        return t["webSocketDebuggerUrl"]
            return None
        return poll(page, 30, "a page target in chromium", interval=0.1)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        self.log.close()


class CDP:
    """Just enough of the DevTools protocol: numbered calls, events logged."""

    def __init__(self, conn):
        self.conn = conn
        self.n = 0
        self.console = []

    async def call(self, method, **params):
        self.n += 1
        mine = self.n
        await self.conn.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.conn.recv(), timeout(30)))
            if msg.get("id") == mine:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg["result"]
            if msg.get("method") in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown"):
                self.console.append(msg["params"])

    async def eval(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                            awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page threw on %r: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    async def wait(self, expr, seconds, what):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout(seconds)
        last = None
        while loop.time() < deadline:
            last = await self.eval(expr)
            if last:
                return last
            await asyncio.sleep(0.05)
        pytest.fail("timed out waiting for %s (last %r); console: %r"
                    % (what, last, self.console[-10:]))


FEED_COUNT = "document.querySelectorAll('#feed .event').length"
VISIBLE = ("Array.from(document.querySelectorAll('#feed .event'))"
           ".filter(e => e.offsetParent !== null).length")


def need_chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed (scripts/deps.sh installs it)")


def test_viewer_shows_events_and_filters(tmp_path, plugin_dir, daemon):
    need_chromium()
    s = start_ws(tmp_path, plugin_dir, daemon)
    browser = Chromium(tmp_path / "profile")
    try:
        asyncio.run(drive(s, browser.page_ws_url()))
        s.stop()              # with the page still connected
    finally:
        browser.stop()
    assert ARTIFACT.stat().st_size > 1000


def test_viewer_with_auth_and_a_pasted_token(tmp_path, plugin_dir, daemon):
    """With auth on, the page connects once a recipient and a token are
    typed in and connect is clicked (the token as the subprotocol, as a
    browser must), then shows that recipient's events and broadcasts."""
    need_chromium()
    s = start_ws(tmp_path, plugin_dir, daemon, env={"JWT_SECRET": JWT_SECRET},
                 config={"auth": {"jwt_secret": "${JWT_SECRET}"}})
    browser = Chromium(tmp_path / "profile")
    try:
        asyncio.run(drive_auth(s, browser.page_ws_url()))
        s.stop()
    finally:
        browser.stop()


async def drive_auth(s, page_url):
    async with websockets.connect(page_url, max_size=None) as conn:
        cdp = CDP(conn)
        await cdp.call("Runtime.enable")
        await cdp.call("Page.enable")
        await cdp.call("Page.navigate", url="http://127.0.0.1:%d/" % s.port)
        await cdp.wait("document.readyState === 'complete' && !!document.getElementById('feed')",
                       30, "the viewer page to load")
        token = jwt({"sub": "user_1", "exp": int(time.time()) + 600})
        typed = await cdp.eval("""(() => {
          const set = (id, v) => { const el = document.getElementById(id); if (!el) return false;
            el.value = v; el.dispatchEvent(new Event('input', {bubbles: true}));
            el.dispatchEvent(new Event('change', {bubbles: true})); return true; };
          if (!set('recipient', 'user_1') || !set('token', %s)) return false;
          const mode = document.getElementById('token-mode');
          if (mode) { mode.value = 'protocol'; mode.dispatchEvent(new Event('change')); }
          document.getElementById('connect').click();
          return true;
        })()""" % json.dumps(token))
        assert typed, "no #recipient, #token or #connect in the viewer page"
        await cdp.wait("document.getElementById('state').dataset.state === 'open'", 30,
                       "#state open after connecting with the token")
        poll(lambda: s.connections() == 1, 30, "the viewer's authenticated WebSocket")
        s.emit(change(0, owner="user_2"), change(1, owner="user_1"), change(2))
        await cdp.wait("%s === 2" % FEED_COUNT, 30, "user_1's event and the broadcast")
        ids = await cdp.eval("Array.from(document.querySelectorAll('#feed .event'))"
                             ".map(e => e.innerText).join('|')")
        assert "d1" in ids and "d2" in ids and "d0" not in ids, ids


async def drive(s, page_url):
    async with websockets.connect(page_url, max_size=None) as conn:
        cdp = CDP(conn)
        await cdp.call("Runtime.enable")
        await cdp.call("Page.enable")
        await cdp.call("Page.navigate", url="http://127.0.0.1:%d/" % s.port)
        await cdp.wait("document.readyState === 'complete' && !!document.getElementById('feed')",
                       30, "the viewer page to load")
        await cdp.wait("document.getElementById('state').dataset.state === 'open'", 30,
                       "#state open")
        poll(lambda: s.connections() == 1, 30, "the viewer's WebSocket to connect")
        events = [change(0, coll="orders"), change(1, coll="users", op="update"),
                  change(2, coll="orders", op="delete"), change(3, coll="users"),
                  change(4, coll="orders", op="update"), change(5, coll="users", op="delete")]
        s.emit(*events)
        await cdp.wait("%s >= 6" % FEED_COUNT, 30, "six events in #feed")
        text = await cdp.eval("document.getElementById('feed').innerText")
        assert "orders" in text and "users" in text, text[:500]

        # Filter by collection: only the three "orders" events stay visible.
        await set_filter(cdp, "collection", "orders")
        await cdp.wait("%s === 3" % VISIBLE, 10, "three visible events with collection=orders")
        # And by operation on top: orders + update is one event.
        await set_filter(cdp, "operation", "update")
        await cdp.wait("%s === 1" % VISIBLE, 10, "one visible orders update")
        await set_filter(cdp, "collection", "")
        await set_filter(cdp, "operation", "")
        await cdp.wait("%s >= 6" % VISIBLE, 10, "all events visible again")

        shot = await cdp.call("Page.captureScreenshot", format="png")
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        ARTIFACT.write_bytes(base64.b64decode(shot["data"]))


async def set_filter(cdp, what, value):
    """Sets the viewer's filter `what` (collection|operation) as a user
    would: the value into its control, then an input and a change event."""
    expr = """(() => {
      const el = document.getElementById('filter-%s');
      if (!el) return false;
      el.value = %s;
      el.dispatchEvent(new Event('input', {bubbles: true}));
      el.dispatchEvent(new Event('change', {bubbles: true}));
      return true;
    })()""" % (what, json.dumps(value))
    assert await cdp.eval(expr), "no %s filter control in the viewer page" % what
