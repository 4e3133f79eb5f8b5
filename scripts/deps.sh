#!/usr/bin/env bash
# Installs the Debian 12 packages changecast needs to build and test, when
# any is missing. Usage: scripts/deps.sh [build|demo|test|bench]   (default: test)
# demo adds, to the build list, what scripts/demo.sh runs beside the daemon
# (the Python MongoDB peer and activity generator, curl).
# bench adds, to the test list, what the benchmarks alone use (nginx as the
# webhook receiver of bench_http.py, wrk as its yardstick).
set -euo pipefail
build_pkgs=(gcc pkg-config meson ninja-build
    libmongoc-dev libbson-dev libjansson-dev libevent-dev libcmocka-dev
    libhiredis-dev libcurl4-openssl-dev libjwt-dev libssl-dev)
test_pkgs=(clang libclang-rt-14-dev python3 python3-pytest python3-pymongo
    python3-websockets python3-redis chromium)
demo_pkgs=(python3 python3-pymongo curl)
test_pkgs+=(redis-server)   # the redis plugins' tests start their own
bench_pkgs=(nginx wrk)
want=("${build_pkgs[@]}")
case "${1:-test}" in
    build) ;;
    demo) want+=("${demo_pkgs[@]}") ;;
    test) want+=("${test_pkgs[@]}") ;;
    bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *) echo "usage: scripts/deps.sh [build|demo|test|bench]" >&2; exit 2 ;;
esac

missing=()
# Node.js and npm run the Node clients (tests/node); machines of this kind
# carry a newer Node than Debian's, so Debian's is installed only when none is.
case "${1:-test}" in
    test | bench) command -v npm >/dev/null || want+=(nodejs npm) ;;
esac
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
