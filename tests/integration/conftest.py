"""pytest entry point: the fixtures live in cchelpers.py (importable by the
test modules too, which conftest.py is not meant to be)."""

from cchelpers import build_root, changecast_bin, daemon, gen, plugin_dir  # noqa: F401
