#!/usr/bin/env bash
# test_no_test_hooks.sh - the release artefacts carry no test hook: libmedvault.so exports no
# mv_store_test_* symbol, libmedvault.a and the medvault binary define none, while the
# test-only library medvault_test does (so the check would see one if it leaked back).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${MV_BUILD_DIR:-$repo/build}"

fail() { echo "test_no_test_hooks: $*" >&2; exit 1; }
hooks() { nm "$@" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ && $3 ~ /^mv_store_test_/ {print $3}' | sort -u; }

so="$build/libmedvault.so"
[ -e "$so" ] || fail "missing $so"
[ -z "$(hooks -D "$so")" ] || fail "libmedvault.so exports test hooks: $(hooks -D "$so" | tr '\n' ' ')"
[ -z "$(hooks "$build/libmedvault.a")" ] || fail "libmedvault.a defines test hooks"
[ -z "$(hooks "${MEDVAULT_BIN:-$build/medvault}")" ] || fail "the medvault binary defines test hooks"
n="$(hooks "$build/tests/libmedvault_test.a" | wc -l)"
[ "$n" -eq 6 ] || fail "medvault_test should define the 6 store hooks, found $n"
echo "test_no_test_hooks: ok"
