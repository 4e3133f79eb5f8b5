#!/usr/bin/env bash
# Installs the Debian 12 packages changecast needs to build and test, when
# any is missing. Usage: scripts/deps.sh [build|test]   (default: test)
set -euo pipefail
build_pkgs=(gcc pkg-config meson ninja-build
    libmongoc-dev libbson-dev libjansson-dev libevent-dev libcmocka-dev
    libhiredis-dev libcurl4-openssl-dev libjwt-dev libssl-dev)
test_pkgs=(clang libclang-rt-14-dev python3 python3-pytest python3-pymongo
    python3-websockets python3-redis)
want=("${build_pkgs[@]}")
[ "${1:-test}" = test ] && want+=("${test_pkgs[@]}")

missing=()
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
