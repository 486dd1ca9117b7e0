#!/usr/bin/env bash
# The layering is enforced, not described: scripts/check-layers.py passes on this tree and
# fails, naming the file, on a planted include of a higher layer and on one party including
# another's header; and the build's per-layer link check (CMakeLists.txt, MV_LAYER_LINK_CHECK)
# produced one library per layer, each linked with --no-undefined against only the layers under it.
source "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CHECK="$SRC/scripts/check-layers.py"
BUILD=${MV_BUILD_DIR:?MV_BUILD_DIR must point at the build directory}

python3 "$CHECK" > "$TMP/ok.out" 2>&1 || { cat "$TMP/ok.out" >&2; fail "the tree breaks its layering"; }
pass "no source includes a header of a higher layer or of another party"

plant() { # plant FILE INCLUDE : a copy of the tree with one more include in FILE
  rm -rf "$TMP/tree"; mkdir -p "$TMP/tree"
  cp -r "$SRC/src" "$SRC/include" "$TMP/tree/"
  sed -i "0,/^#include/s||#include \"$2\"\n#include|" "$TMP/tree/$1"
  grep -q "^#include \"$2\"" "$TMP/tree/$1" || fail "could not plant $2 in $1"
}
plant src/core/buf.c medvault/mv_storage.h
if python3 "$CHECK" --root "$TMP/tree" > "$TMP/up.out" 2>&1; then fail "an include from core into storage passed"; fi
grep -q 'src/core/buf.c: includes "medvault/mv_storage.h" of layer storage' "$TMP/up.out" || { cat "$TMP/up.out" >&2; fail "the upward include was not named"; }
pass "an include from core into a party fails the check"

plant src/storage/storage.c hospital/registry.h
if python3 "$CHECK" --root "$TMP/tree" > "$TMP/side.out" 2>&1; then fail "a party including another party's header passed"; fi
grep -q 'src/storage/storage.c: includes "hospital/registry.h" of layer hospital' "$TMP/side.out" || { cat "$TMP/side.out" >&2; fail "the sideways include was not named"; }
pass "one party including another's internal header fails the check"

# The link check ran in this build: one shared object per layer exists and none has an
# undefined symbol of ours (every mv_/registry_/... reference resolved within its own layers).
for layer in core crypto record store net keyserver storage hospital client; do
  lib="$BUILD/layercheck/libmv_layercheck_$layer.so"
  [ -f "$lib" ] || fail "the layer link check did not build $layer (is MV_LAYER_LINK_CHECK off?)"
  undef=$(nm -D --undefined-only "$lib" | awk '{print $2}' | grep -E '^(mv_|registry_|hosp_|storage_|mvc_|guard_|decoy_|hospital_)' || true)
  [ -z "$undef" ] || fail "layer $layer needs symbols from above it: $undef"
done
pass "every layer links with only the layers under it"

# docs/architecture.dot is the graph of this tree (`make docs` rewrites it).
python3 "$CHECK" --graph > "$TMP/graph.dot"
diff -u "$SRC/docs/architecture.dot" "$TMP/graph.dot" >&2 || fail "docs/architecture.dot is stale: run make docs"
pass "docs/architecture.dot matches the tree"
