#!/usr/bin/env bash
# libmedvault.so exports only the documented API: every function declared in include/medvault/
# carries MV_API, and `nm -D` on the shared library lists no name that those headers do not
# declare (the library is compiled with -fvisibility=hidden). The checker itself is shown to
# fail on an unmarked declaration and on a library that exports an internal name.
source "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CHECK="$SRC/scripts/check-exports.py"
LIB="${MV_BUILD_DIR:?MV_BUILD_DIR must point at the build directory}/libmedvault.so"
[ -f "$LIB" ] || fail "no shared library at $LIB"

python3 "$CHECK" --lib "$LIB" > "$TMP/ok.out" 2>&1 || { cat "$TMP/ok.out" >&2; fail "the tree's exports do not match its public headers"; }
# The API is not empty and is really exported: a documented function is in the dynamic table,
# an internal helper of the hospital registry is not.
# (Through a file: under pipefail, grep -q leaving early would SIGPIPE nm and fail the pipe.)
nm -D --defined-only "$LIB" > "$TMP/syms" || fail "nm cannot read $LIB"
grep -qw mv_strerror "$TMP/syms" || fail "mv_strerror is not exported"
grep -qw registry_open "$TMP/syms" && fail "the internal registry_open is exported"
pass "every exported symbol is declared in include/medvault and every declaration is marked"

# A public declaration without MV_API is caught (it would silently vanish from the .so).
mkdir -p "$TMP/tree/include"
cp -r "$SRC/include/medvault" "$TMP/tree/include/"
sed -i 's/^MV_API const char \*mv_strerror(/const char *mv_strerror(/' "$TMP/tree/include/medvault/mv_err.h"
grep -q '^const char \*mv_strerror(' "$TMP/tree/include/medvault/mv_err.h" || fail "could not plant the unmarked declaration"
if python3 "$CHECK" --root "$TMP/tree" > "$TMP/unmarked.out" 2>&1; then
  fail "the checker accepted a public declaration without MV_API"
fi
grep -q 'mv_strerror is declared without MV_API' "$TMP/unmarked.out" || fail "the checker did not name the unmarked declaration"
pass "an unmarked public declaration fails the check"

# A library exporting a name no header declares is caught.
printf 'int registry_open(void);\nint registry_open(void) { return 0; }\nconst char *mv_strerror(int rc);\nconst char *mv_strerror(int rc) { return rc ? "e" : ""; }\n' > "$TMP/leak.c"
cc -shared -fPIC -o "$TMP/libleak.so" "$TMP/leak.c" || fail "cannot build the planted library"
if python3 "$CHECK" --lib "$TMP/libleak.so" > "$TMP/leak.out" 2>&1; then
  fail "the checker accepted a library that exports registry_open"
fi
grep -q 'exports registry_open' "$TMP/leak.out" || fail "the checker did not name the leaked symbol"
grep -q 'exports mv_strerror' "$TMP/leak.out" && fail "the checker flagged a declared symbol"
pass "an exported internal name fails the check"
