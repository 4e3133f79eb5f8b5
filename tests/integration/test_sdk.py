"""The installed SDK: `meson install` into a staging dir, build the
out-of-tree example sink (sdk/examples) against it with pkg-config, load it
next to the build's plugins and check what it writes."""

import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cchelpers import SOURCE_ROOT, run_cli, timeout

EXAMPLES = SOURCE_ROOT / "sdk" / "examples"


def build_option(build_root, name):
    opts = json.loads((build_root / "meson-info" / "intro-buildoptions.json").read_text())
    return next(o["value"] for o in opts if o["name"] == name)


@pytest.fixture(scope="module")
def staged(build_root, tmp_path_factory):
    """The build installed under a fresh DESTDIR: (destdir, prefix dir inside it)."""
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["meson", "install", "-C", str(build_root), "--destdir", str(dest),
                        "--no-rebuild", "--quiet"], capture_output=True, text=True,
                       timeout=timeout(300))
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = build_option(build_root, "prefix")
    root = dest / prefix.lstrip("/")
    assert root.is_dir(), "nothing installed under %s" % root
    yield dest, root
    shutil.rmtree(dest, ignore_errors=True)


def pkgconfig_dir(root):
    found = sorted(glob.glob(str(root / "lib" / "pkgconfig" / "changecast.pc")) +
                   glob.glob(str(root / "lib" / "*" / "pkgconfig" / "changecast.pc")))
    assert found, "no changecast.pc under %s/lib/pkgconfig or %s/lib/*/pkgconfig" % (root, root)
    return Path(found[0]).parent


def installed_plugin_dir(root):
    found = sorted(glob.glob(str(root / "lib" / "changecast" / "plugins")) +
                   glob.glob(str(root / "lib" / "*" / "changecast" / "plugins")))
    assert found, "no lib/changecast/plugins (or lib/<arch>/changecast/plugins) under %s" % root
    return Path(found[0])


def test_installed_tree(staged, changecast_bin):
    dest, root = staged
    exe = root / "bin" / "changecast"
    assert exe.is_file() and os.access(exe, os.X_OK)
    plugins = installed_plugin_dir(root)
    assert {"jsonl.so", "file.so"} <= {p.name for p in plugins.glob("*.so")}
    headers = {p.name for p in (root / "include" / "changecast").glob("*.h")}
    assert {"changecast.h", "plugin.h", "config.h", "error.h", "portable.h"} <= headers
    pc = (pkgconfig_dir(root) / "changecast.pc").read_text()
    assert re.search(r"^Cflags:.*-I\$\{includedir\}", pc, re.M), pc
    assert re.search(r"^plugindir=", pc, re.M), pc
    share = root / "share" / "changecast"
    assert share.is_dir()
    assert (share / "changecast.service").is_file(), sorted(os.listdir(share))
    manifests = sorted(share.glob("*.json"))
    assert manifests, "no example manifest in share/changecast"

    # The installed binary works, finds the installed plugins when told where,
    # and every installed example manifest passes `check` with them.
    r = run_cli(str(exe), "version")
    assert r.returncode == 0
    assert r.stdout == run_cli(changecast_bin, "version").stdout
    r = run_cli(str(exe), "plugins", "--plugin-dir", str(plugins))
    assert r.returncode == 0, r.stderr
    assert {"jsonl", "file"} <= {ln.split()[0] for ln in r.stdout.splitlines()[1:]}
    # The examples take their secrets and addresses from the environment.
    env = {"CHANGECAST_PLUGIN_DIR": str(plugins), "JWT_SECRET": "s3cret",
           "MONGO_URI": "mongodb://127.0.0.1:27017/?replicaSet=rs0",
           "REDIS_PASSWORD": "pw", "EDGE_GROUP": "edge-1"}
    names = {m.name for m in manifests}
    assert {"demo.json", "demo-replay.json", "users-websocket.json",
            "inventory-owners.json", "redis-publisher.json", "redis-edge.json"} <= names, names
    for m in manifests:
        r = run_cli(str(exe), "check", "-c", str(m), env=env)
        assert r.returncode == 0, (m.name, r.stderr)


@pytest.fixture(scope="module")
def example_so(staged, tmp_path_factory):
    """sdk/examples built out of tree with the example's own Makefile, against
    the staged SDK only (pkg-config with a sysroot pointing at DESTDIR)."""
    dest, root = staged
    assert (EXAMPLES / "Makefile").is_file(), "sdk/examples/Makefile is missing"
    out = tmp_path_factory.mktemp("example-build")
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = str(pkgconfig_dir(root))
    env["PKG_CONFIG_LIBDIR"] = str(pkgconfig_dir(root))   # the staged SDK, nothing else
    env["PKG_CONFIG_SYSROOT_DIR"] = str(dest)
    cflags = subprocess.run(["pkg-config", "--cflags", "changecast"], env=env,
                            capture_output=True, text=True)
    assert cflags.returncode == 0, cflags.stderr
    assert str(dest) in cflags.stdout, "pkg-config does not point into the staged tree: %s" \
        % cflags.stdout
    r = subprocess.run(["make", "-f", str(EXAMPLES / "Makefile"), "CFLAGS=-O2 -Wall -Wextra "
                        "-Werror"], cwd=out, env=env, capture_output=True, text=True,
                       timeout=timeout(300))
    assert r.returncode == 0, r.stdout + r.stderr
    # It compiled against the staged headers, not the source tree's.
    assert str(SOURCE_ROOT / "sdk" / "include") not in r.stdout
    sos = sorted(out.glob("*.so"))
    assert len(sos) == 1, sos
    return sos[0]


def test_example_exports_only_the_entry(example_so):
    r = subprocess.run(["nm", "-D", "--defined-only", str(example_so)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    names = [ln.split()[-1] for ln in r.stdout.splitlines() if ln.strip()]
    assert names == ["cc_plugin_entry"], names


EVENTS = [
    '{"_id":{"_data":"82E1"},"operationType":"insert","clusterTime":{"$timestamp":{"t":1,"i":1}},'
    '"ns":{"db":"test","coll":"users"},"documentKey":{"_id":"u1"},'
    '"fullDocument":{"_id":"u1","owner":"alice"}}',
    '{"_id":{"_data":"82E2"},"operationType":"update","clusterTime":{"$timestamp":{"t":2,"i":1}},'
    '"ns":{"db":"test","coll":"users"},"documentKey":{"_id":{"$oid":"680684ff0000000000000001"}},'
    '"updateDescription":{"updatedFields":{"a":1},"removedFields":[]}}',
    '{"_id":{"_data":"82E3"},"operationType":"delete","clusterTime":{"$timestamp":{"t":3,"i":1}},'
    '"ns":{"db":"test","coll":"odd\\tname"},"documentKey":{"_id":"line\\nbreak\\\\x"},'
    '"fullDocumentBeforeChange":{"_id":"line\\nbreak\\\\x","owner":"bob"}}',
    '{"_id":{"_data":"82E4"},"operationType":"replace","clusterTime":{"$timestamp":{"t":4,"i":1}},'
    '"ns":{"db":"test","coll":"users"},"documentKey":{"_id":7},'
    '"fullDocument":{"_id":7,"owner":["carol","dave"]}}',
]
EXPECTED_TSV = (
    "insert\tusers\tu1\talice\n"
    "update\tusers\t680684ff0000000000000001\t-\n"
    "delete\todd\\tname\tline\\nbreak\\\\x\tbob\n"
    "replace\tusers\t7\tcarol\n"
    "replace\tusers\t7\tdave\n"
)


def test_example_sink_runs_next_to_build_plugins(example_so, tmp_path, plugin_dir, daemon,
                                                 changecast_bin):
    mine = tmp_path / "myplugins"
    mine.mkdir()
    shutil.copy(example_so, mine / example_so.name)
    dirs = [plugin_dir, str(mine)]

    r = run_cli(changecast_bin, "plugins", "--plugin-dir", ":".join(dirs))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    rows = {ln.split()[0]: ln.split() for ln in r.stdout.splitlines()[1:]}
    assert rows["tsv"][1:4] == ["sink", "1.0.0", rows["file"][3]], rows
    assert {"jsonl", "file"} <= set(rows)
    r = run_cli(changecast_bin, "plugins", "--plugin-dir", ":".join(dirs), "--help", "tsv")
    assert r.returncode == 0
    assert re.search(r"^  path\s", r.stdout, re.M), r.stdout

    (tmp_path / "changes.jsonl").write_text("".join(e + "\n" for e in EVENTS))
    m = {"plugin_dir": dirs, "admin": {"listen": "127.0.0.1:0"},
         "sources": [{"name": "replay", "plugin": "jsonl",
                      "config": {"path": "changes.jsonl", "recipient": "fullDocument.owner"}}],
         "sinks": [{"name": "audit", "plugin": "tsv", "config": {"path": "events.tsv"}},
                   {"name": "out", "plugin": "file", "config": {"path": "out.jsonl"}}]}
    (tmp_path / "m.json").write_text(json.dumps(m))
    r = run_cli(changecast_bin, "check", "-c", "m.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = daemon(tmp_path / "m.json")
    assert d.wait() == 0, d.stderr()
    assert (tmp_path / "events.tsv").read_text() == EXPECTED_TSV
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5

    # The core validates the example's config table: `path` is required.
    m["sinks"][0]["config"] = {}
    (tmp_path / "bad.json").write_text(json.dumps(m))
    r = run_cli(changecast_bin, "check", "-c", "bad.json", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == 'bad.json: sinks[0].config: missing required key "path"'
