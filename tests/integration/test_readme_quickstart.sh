#!/usr/bin/env bash
# The README's quick start works as written (issue 14: it said `medvault ...` while the binary
# is build/medvault). Runs the shell block that follows the README's "quick start" marker,
# unchanged, in a fresh directory whose build/ is this build; only `make build` is a stub
# here (the binary is already built, and the test must not rebuild the tree it tests).
source "$(dirname "$0")/lib.sh"

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
awk '/<!-- quick start:/ {on = 1; next} on && /^```sh$/ {inblock = 1; next} inblock && /^```$/ {exit} inblock' \
  "$ROOT/README.md" > "$TMP/quickstart.sh"
[ -s "$TMP/quickstart.sh" ] || fail "no quick start block after the marker in README.md"
head -n 1 "$TMP/quickstart.sh" | grep -q '^make build && export PATH="$PWD/build:$PATH"$' \
  || fail "the quick start's first line does not build and put build/ on PATH: $(head -n 1 "$TMP/quickstart.sh")"
grep -q '^BUILD *?= *build$' "$ROOT/Makefile" || fail "make build no longer builds into build/"
[ "$(basename "$MEDVAULT_BIN")" = medvault ] || fail "the binary is not called medvault"

mkdir -p "$TMP/q"
ln -s "$(dirname "$MEDVAULT_BIN")" "$TMP/q/build"
cp "$TMP/quickstart.sh" "$TMP/q/quickstart.sh"
# A clean environment: no MEDVAULT_* from the caller, and no medvault on PATH but build/'s.
rc=0
(cd "$TMP/q" && env -u MEDVAULT_DEPLOYMENT -u MEDVAULT_USER PATH=/usr/bin:/bin \
   timeout 240 bash -euo pipefail -c 'make() { [ "$*" = build ]; }; source ./quickstart.sh') \
   > "$TMP/q.out" 2> "$TMP/q.err" < /dev/null || rc=$?
# The up it started (its pid is in demo/up.lock) stops after the block's last line; if the
# block stopped half-way, it is stopped here.
if [ -s "$TMP/q/demo/up.lock" ]; then
  LEFT=$(cat "$TMP/q/demo/up.lock")
  if [ "$rc" -ne 0 ] || ! wait_for 20 gone "$LEFT"; then
    kill -TERM "$LEFT" 2>/dev/null || true
    wait_for 20 gone "$LEFT" || true
    [ "$rc" -ne 0 ] || fail "the quick start's last line did not stop medvault up"
  fi
fi
[ "$rc" -eq 0 ] || fail "the README quick start failed (status $rc): $(cat "$TMP/q.err")"
[ -s "$TMP/q/back.json" ] || fail "the quick start did not fetch a record into back.json"
grep -q '"resourceType"' "$TMP/q/back.json" || fail "back.json is not the FHIR record"
[ "$(wc -l < "$TMP/q/ids.txt")" -ge 100 ] || fail "the quick start stored fewer than 100 records: $(cat "$TMP/q.err")"
pass "the README quick start runs as written"
