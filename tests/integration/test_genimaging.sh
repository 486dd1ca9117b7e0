#!/usr/bin/env bash
# medvault gen-imaging: deterministic per seed, DICOM Part 10 layout (preamble, "DICM", explicit
# VR little endian elements up to a pixel data element that spans the rest of the file), 2-16 MiB
# files summing to the requested size, about 30% shifted duplicates whose relation to their
# source is exactly what the manifest says, and pixels that compress somewhat but not hugely.
source "$(dirname "$0")/lib.sh"

M=256
"$MV" gen-imaging "$TMP/a" --mib $M --seed 3 --json > "$TMP/a.json"
"$MV" gen-imaging "$TMP/b" --mib $M --seed 3 > /dev/null
"$MV" gen-imaging "$TMP/c" --mib 16 --seed 4 > /dev/null
"$MV" gen-imaging "$TMP/d" --mib 16 --seed 5 > /dev/null
diff -r -q "$TMP/a" "$TMP/b" > /dev/null || fail "two runs with the same seed differ"
cmp -s "$TMP/c/img-0001.dcm" "$TMP/d/img-0001.dcm" && fail "two seeds gave the same first file"
pass "same seed gives identical files, another seed differs"

python3 - "$TMP/a" "$TMP/a.json" $M <<'PY' || fail "imaging checks (above)"
import json, os, struct, sys, zlib
root, summary, mib = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
man = json.load(open(os.path.join(root, "manifest.json")))
MiB, FRAME = 1 << 20, 512 * 512 * 2
def die(msg):
    print("FAIL:", msg); sys.exit(1)
LONG = {b"OB", b"OW", b"SQ", b"UN", b"UT"}
def parse(data, name):
    """Walks the explicit VR LE elements; returns ({tag: value}, pixel offset, pixel length)."""
    if data[:128] != bytes(128) or data[128:132] != b"DICM": die(f"{name}: no preamble/DICM")
    off, els, last = 132, {}, (0, 0)
    while True:
        g, e = struct.unpack_from("<HH", data, off); vr = data[off + 4:off + 6]
        if not vr.isalpha() or not vr.isupper(): die(f"{name}: bad VR at {off}")
        if (g, e) <= last: die(f"{name}: tags not ascending at {off}")
        last = (g, e)
        if vr in LONG:
            if data[off + 6:off + 8] != b"\0\0": die(f"{name}: reserved bytes")
            ln = struct.unpack_from("<I", data, off + 8)[0]; off += 12
        else:
            ln = struct.unpack_from("<H", data, off + 6)[0]; off += 8
        if ln % 2: die(f"{name}: odd length at {off}")
        if (g, e) == (0x7FE0, 0x0010):
            if vr != b"OW" or off + ln != len(data): die(f"{name}: pixel data length {ln} vs file")
            return els, off, ln
        els[(g, e)] = data[off:off + ln]; off += ln
        if off > len(data): die(f"{name}: element runs past the end")

files = man["files"]
if summary["files"] != len(files) or summary["bytes"] != man["total_bytes"]: die("summary vs manifest")
frames = sum(f["frames"] for f in files)
if frames * FRAME != mib * MiB: die(f"pixel frames {frames} do not make {mib} MiB")
if not (mib * MiB <= man["total_bytes"] <= mib * MiB + len(files) * (4096 + 8192)): die("total bytes")
derived = [f for f in files if f["kind"] != "original"]
share = len(derived) / len(files)
print(f"  {len(files)} files, {len(derived)} derived ({share:.0%}), kinds {sorted({f['kind'] for f in derived})}")
if not 0.2 <= share <= 0.4: die(f"derived share {share:.2f}")
if {f["kind"] for f in derived} != {"reheader", "insert", "modify"}: die("not every kind of derivation present")

data, parsed, total = {}, {}, 0
for f in files:
    d = open(os.path.join(root, f["name"]), "rb").read()
    if len(d) != f["bytes"]: die(f"{f['name']}: size vs manifest")
    if not 2 * MiB <= len(d) <= 16 * MiB + 16384: die(f"{f['name']}: {len(d)} bytes")
    els, poff, plen = parse(d, f["name"])
    if poff != f["header_bytes"]: die(f"{f['name']}: header_bytes")
    if struct.unpack("<H", els[(0x28, 0x10)])[0] != 512 or int(els[(0x28, 0x8)]) != f["frames"]: die(f"{f['name']}: dims")
    if els[(0x2, 0x10)].rstrip(b"\0") != b"1.2.840.10008.1.2.1": die(f"{f['name']}: transfer syntax")
    glen = struct.unpack("<I", els[(0x2, 0x0)])[0]
    if 132 + 12 + glen != d.index(b"\x08\x00\x05\x00CS"): die(f"{f['name']}: file meta group length")
    data[f["name"]], parsed[f["name"]] = d, (els, poff)
    total += len(d)
if total != man["total_bytes"]: die("total_bytes")

names = [f["name"] for f in files]
for f in derived:
    src = f["derived_from"]
    if names.index(src) >= names.index(f["name"]) or dict(zip(names, files))[src]["kind"] != "original":
        die(f"{f['name']}: source {src} is not an earlier original")
    a, b = data[src], data[f["name"]]
    (ea, pa), (eb, pb) = parsed[src], parsed[f["name"]]
    if f["kind"] == "reheader":
        if a[pa:] != b[pb:]: die(f"{f['name']}: pixels differ from {src}")
        if pa == pb: die(f"{f['name']}: header length unchanged, nothing shifts")
        if ea[(0x10, 0x10)] == eb[(0x10, 0x10)] or ea[(0x10, 0x20)] == eb[(0x10, 0x20)]: die(f"{f['name']}: same patient")
    elif f["kind"] == "insert":
        o, n = f["edit_offset"], f["edit_bytes"]
        if not 1024 <= n <= 8192 or pa != pb: die(f"{f['name']}: insert of {n}")
        if b[:pa - 4] != a[:pa - 4] or b[pb:o] != a[pa:o] or b[o + n:] != a[o:]: die(f"{f['name']}: not an insert")
        if len(b) != len(a) + n: die(f"{f['name']}: length")
    else:
        o, n = f["edit_offset"], f["edit_bytes"]
        if not 1024 <= n <= 8192 or len(a) != len(b): die(f"{f['name']}: modify of {n}")
        if a[:o] != b[:o] or a[o + n:] != b[o + n:]: die(f"{f['name']}: changed outside its range")
        diff = sum(1 for i in range(o, o + n, 2) if a[i:i + 2] != b[i:i + 2])
        if diff != n // 2: die(f"{f['name']}: {diff} of {n // 2} words changed")
    if f["kind"] != "reheader":
        px, rel = len(a) - pa, f["edit_offset"] - pa
        if not px // 4 - 1 <= rel <= 3 * px // 4: die(f"{f['name']}: edit at {rel} of {px} is not in the middle")

sample = data[names[0]][: 4 * MiB]
ratio = len(sample) / len(zlib.compress(sample, 6))
print(f"  deflate ratio on 4 MiB of {names[0]}: {ratio:.2f}")
if not 1.2 <= ratio <= 4: die(f"compression ratio {ratio:.2f}")
PY
pass "layout, sizes, derived share, derivations as the manifest says, compressibility"

rc() { "$@" > /dev/null 2>&1 && echo 0 || echo $?; }
[ "$(rc "$MV" gen-imaging "$TMP/e")" = 2 ] || fail "missing --mib accepted"
[ "$(rc "$MV" gen-imaging "$TMP/e" --mib 0)" = 2 ] || fail "--mib 0 accepted"
[ "$(rc "$MV" gen-imaging "$TMP/c" --mib 4)" = 1 ] || fail "non-empty OUTDIR accepted"
"$MV" gen-imaging --help | grep -q "usage: medvault gen-imaging" || fail "--help"
pass "usage errors and a non-empty OUTDIR are refused"
