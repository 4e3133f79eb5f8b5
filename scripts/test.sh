#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   1. installs missing Debian packages (apt-get update first),
#   2. builds with warnings as errors and runs every test (unit, ABI,
#      integration),
#   3. does the same in an AddressSanitizer + UndefinedBehaviorSanitizer build,
#   4. builds the libFuzzer targets with clang and runs each briefly.
# Build folders: build-test/, build-asan/, build-fuzz/. FUZZ_SECONDS (default
# 20) sets the length of each fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh test
# The Node clients (ws, the MongoDB Node driver), pinned by package-lock.json.
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error

# Debian's python3, not whatever python3 is first on PATH.
export PYTHON=/usr/bin/python3

setup() {   # setup DIR [meson options...]
    local dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

echo "== normal build (warnings as errors)"
setup build-test --werror -Dbuildtype=debugoptimized
meson compile -C build-test
meson test -C build-test --print-errorlogs

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
setup build-asan --werror -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --timeout-multiplier 3

echo "== libFuzzer targets"
CC=clang setup build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false
# Every folder tests/fuzz/corpus/NAME is the seed corpus of target fuzz_NAME.
targets=()
for d in tests/fuzz/corpus/*/; do targets+=("fuzz_$(basename "$d")"); done
meson compile -C build-fuzz "${targets[@]/#/tests/fuzz/}"
secs=${FUZZ_SECONDS:-20}
for target in "${targets[@]}"; do
    corpus=$(mktemp -d)
    cp -r "$root/tests/fuzz/corpus/${target#fuzz_}/." "$corpus/"
    echo "-- $target for ${secs}s"
    log=$(mktemp)
    if ! "build-fuzz/tests/fuzz/$target" -max_total_time="$secs" -print_final_stats=1 \
            -timeout=10 -rss_limit_mb=2048 "$corpus" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz: $target failed (crash, leak or timeout above)" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|Done [0-9]+ runs' "$log" || true
    rm -f "$log"
    rm -rf "$corpus"
done
echo "== all tests passed"
