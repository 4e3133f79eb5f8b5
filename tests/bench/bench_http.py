#!/usr/bin/python3
"""jsonl -> http (webhooks) end to end against nginx, beside wrk on the same nginx.

    tests/bench/bench_http.py [--events N] [--concurrency C] [--size BYTES]
                              [--wrk-seconds S] [--build DIR]

Starts Debian's nginx (scripts/deps.sh bench installs it and wrk) in the
foreground on a loopback port with a minimal configuration in a temporary
folder (keep-alive, `location / { return 204; }`, no access log, run as the
current user), replays N generated change events (~BYTES each,
tests/integration/gen_changes.py) through the jsonl source into the http sink
(concurrency C) and reports deliveries/s: N / wall time from start until the
daemon exits by itself (on_eof finish: every event acknowledged). nginx's
request counter (stub_status) confirms N POSTs arrived. Then, on the same
nginx, `wrk -t2 -c C -d S` POSTing a 300-byte JSON body gives the yardstick:
what one HTTP/1.1 client can get out of this nginx on this machine.
Goal (issue): >= 10,000 deliveries/s.
"""
import argparse, json, os, pwd, re, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
GOAL = 10_000

ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=200_000)
ap.add_argument("--concurrency", type=int, default=32)
ap.add_argument("--size", type=int, default=300)
ap.add_argument("--wrk-seconds", type=int, default=10)
ap.add_argument("--build", default=os.path.join(root, "build"))
a = ap.parse_args()
a.build = os.path.abspath(a.build)

nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                   else None)
wrk = shutil.which("wrk")
if not nginx or not wrk:
    sys.exit("bench_http: needs %s; install with `scripts/deps.sh bench` "
             "(apt-get install nginx wrk)" % " and ".join(
                 n for n, p in (("nginx", nginx), ("wrk", wrk)) if not p))
if not os.path.isfile(os.path.join(a.build, "plugins", "http.so")):
    sys.exit("bench_http: no http.so in %s/plugins (build first)" % a.build)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def nginx_requests(port):
    """Requests handled so far (stub_status), or None without the module."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/nginx_status" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(r"^\s*\d+\s+\d+\s+(\d+)\s*$", text, re.M)
    return int(m.group(1)) if m else None


with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
    port = free_port()
    has_status = b"http_stub_status_module" in subprocess.run(
        [nginx, "-V"], capture_output=True).stderr
    user = ("user %s;\n" % pwd.getpwuid(os.geteuid()).pw_name) if os.geteuid() == 0 else ""
    temps = "".join("    %s_temp_path %s/%s;\n" % (t, tmp, t)
                    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""%sdaemon off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
%s    keepalive_timeout 75s;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:%d;
        %s
        location / { return 204; }
    }
}
""" % (user, tmp, tmp, temps, port,
       "location = /nginx_status { stub_status; }" if has_status else ""))
    ngx = subprocess.Popen([nginx, "-e", os.path.join(tmp, "nginx-error.log"), "-p", tmp,
                            "-c", conf], stdin=subprocess.DEVNULL)
    try:
        if not wait_port(port, ngx):
            sys.exit("bench_http: nginx did not start: %s" % open(
                os.path.join(tmp, "nginx-error.log")).read()[-2000:])

        src = os.path.join(tmp, "changes.jsonl")
        subprocess.run([sys.executable, os.path.join(root, "tests/integration/gen_changes.py"),
                        str(a.events), src, "--size", str(a.size)], check=True)
        manifest = {
            "plugin_dir": os.path.join(a.build, "plugins"),
            "state": {"path": "bench.state"},
            # on_eof finish waits for the sinks to drain, but no longer than
            # shutdown_ms (10 s by default): the whole run must fit.
            "shutdown_ms": 3_600_000,
            "admin": {"listen": ""},
            "sources": [{"name": "replay", "plugin": "jsonl",
                         "config": {"path": "changes.jsonl",
                                    "recipient": "fullDocument.owner"}}],
            "sinks": [{"name": "hook", "plugin": "http",
                       "config": {"url": "http://127.0.0.1:%d/hook" % port,
                                  "concurrency": a.concurrency, "timeout_ms": 10000,
                                  "max_retries": 3, "dead_letter": "failed.jsonl"}}],
        }
        mpath = os.path.join(tmp, "bench.json")
        with open(mpath, "w") as f:
            json.dump(manifest, f)
        before = nginx_requests(port)
        t0 = time.monotonic()
        cc = subprocess.Popen([os.path.join(a.build, "core/changecast"), "run", "-q", "-c",
                               mpath], stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(cc.pid, 0)
        dt = time.monotonic() - t0
        cc.returncode = os.waitstatus_to_exitcode(status)
        if cc.returncode != 0:
            sys.exit("bench_http: changecast exited %d" % cc.returncode)
        failed = os.path.join(tmp, "failed.jsonl")
        if os.path.exists(failed) and os.path.getsize(failed):
            sys.exit("bench_http: events were dead-lettered: %s" % open(failed).read()[:2000])
        after = nginx_requests(port)
        if before is not None and after is not None:
            posts = after - before - 1   # the second status request counts itself
            if posts < a.events:
                sys.exit("bench_http: nginx handled %d POSTs for %d events" % (posts, a.events))
            seen = "nginx counted %d POSTs" % posts
        else:
            seen = "nginx without stub_status: POSTs not counted"

        lua = os.path.join(tmp, "post.lua")
        body = json.dumps({"recipient": "user_1", "event": {"pad": ""}})
        body = body.replace('"pad": ""', '"pad": "%s"' % ("x" * (300 - len(body))))
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\n'
                    'wrk.headers["Content-Type"] = "application/json"\n' % json.dumps(body))
        out = subprocess.run([wrk, "-t2", "-c%d" % a.concurrency, "-d%ds" % a.wrk_seconds,
                              "-s", lua, "http://127.0.0.1:%d/" % port],
                             capture_output=True, text=True, check=True).stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not m:
            sys.exit("bench_http: no Requests/sec in wrk's output:\n" + out)
        wrk_rps = float(m.group(1))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    finally:
        ngx.send_signal(signal.SIGQUIT)
        try:
            ngx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ngx.kill()
            ngx.wait()

rate = a.events / dt
print(f"jsonl -> http (nginx `return 204`, keep-alive): {a.events} events of ~{a.size} bytes, "
      f"concurrency {a.concurrency}; {seen}")
print(f"  {dt:.2f} s   {rate:,.0f} deliveries/s   changecast peak RSS "
      f"{usage.ru_maxrss / 1024:.1f} MB   goal {GOAL:,}/s: {'met' if rate >= GOAL else 'NOT met'}")
print(f"wrk -t2 -c{a.concurrency} -d{a.wrk_seconds}s, POST {len(body)}-byte body, same nginx:")
print(f"  {wrk_rps:,.0f} requests/s   (changecast at {rate / wrk_rps:.0%} of it)"
      + (f"   [{errors.group(0)}]" if errors else ""))
