#!/usr/bin/env bash
# Restoring attachments with `medvault get --all -o DIR` (issue 12), through real processes:
# attachments are written block by block as they are decrypted (several blocks of one file on
# several threads) while the next slice is fetched. 40 MiB of gen-imaging attachments (more
# than one 32 MiB slice) come back byte for byte next to FHIR prescriptions; of two attachments
# with the same name, the one listed first gets the name and the other ID-NAME. Then one block
# is corrupted in its pack: the storage server serves it as stored (the client checks every
# block), so only the records that use it fail: each is reported, no file of any of them is
# left behind (not even a partial one holding the blocks that were fine), every other record
# is restored, get exits 1, and `storage check` reports the corruption. (Before, the server's
# own hash check turned the bad block into a 500 for its whole answer and the restore stopped.)
source "$(dirname "$0")/lib.sh"

start_up
DEP=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
"$MV" user add --deployment "$DEP" --user "$ADMIN" --name doc --role doctor --department cardiology \
  --out "$TMP/doc" > /dev/null

"$MV" gen-imaging "$TMP/img" --mib 40 --seed 7 > /dev/null
rm -f "$TMP/img/manifest.json"
mkdir -p "$TMP/same"
cp "$TMP/img/img-0003.dcm" "$TMP/same/img-0001.dcm" # the same name, other content
"$MV" gen-emr "$TMP/emr" 40 --departments cardiology --seed 5 > /dev/null
"$MV" put --deployment "$DEP" --user "$TMP/doc" --json "$TMP/img" "$TMP/same" "$TMP/emr/cardiology" > "$TMP/put.json"
"$MV" ls --deployment "$DEP" --user "$TMP/doc" --json > "$TMP/ls.json"

# check OUT ERRFILE : OUT holds every record that get did not report as failed in ERRFILE,
# byte for byte (FHIR: as parsed JSON), under its name (ID-NAME for the later of two records
# of one name when both were restored), and nothing else. Prints the number of failed records.
check() {
  python3 - "$TMP/put.json" "$TMP/ls.json" "$1" "$2" <<'PY'
import json, os, re, sys
put, ls, out, errf = sys.argv[1:5]
recs = {r["id"]: r["path"] for r in json.load(open(put))["records"]}
order = [r["id"] for r in json.load(open(ls))["records"]]
assert sorted(order) == sorted(recs), "listing and upload differ"
failed = set(re.findall(r"^(?:medvault: )?([0-9a-f]{32}): ", open(errf).read(), re.M))
assert failed <= set(recs), failed
def versionless(d):  # without the meta.versionId/lastUpdated a FHIR store stamps (docs/fhir.md)
    m = d.get("meta", {}); m.pop("versionId", None); m.pop("lastUpdated", None)
    if "meta" in d and not m: del d["meta"]
    return d
def same(path, got):
    want = open(path, "rb").read()
    if path.endswith(".json"):
        return versionless(json.loads(want)) == versionless(json.loads(got))
    return want == got
seen, left = set(), set(os.listdir(out))
for i in order:
    if i in failed:
        continue
    name = os.path.basename(recs[i])
    fname = name if name not in seen else f"{i}-{name}"
    seen.add(name)
    assert fname in left, f"{fname} not restored"
    assert same(recs[i], open(os.path.join(out, fname), "rb").read()), f"{fname} differs from {recs[i]}"
    left.discard(fname)
assert not left, f"files that are no record's: {sorted(left)}"
for i in failed:
    assert recs[i].endswith(".dcm"), "a record without the corrupted block failed"
print(len(failed))
PY
}

"$MV" get --deployment "$DEP" --user "$TMP/doc" --all -o "$TMP/out1" 2> "$TMP/get1.err" \
  || { cat "$TMP/get1.err" >&2; fail "get --all failed"; }
N=$(check "$TMP/out1" "$TMP/get1.err") || fail "the restore differs from the data (above)"
[ "$N" -eq 0 ] || fail "$N records failed on an intact store"
python3 - "$TMP/ls.json" "$TMP/put.json" "$TMP/out1" <<'PY' || fail "the record listed first does not have the name"
import json, os, sys
order = [r["id"] for r in json.load(open(sys.argv[1]))["records"]]
recs = {r["id"]: r["path"] for r in json.load(open(sys.argv[2]))["records"]}
ones = [i for i in order if os.path.basename(recs[i]) == "img-0001.dcm"]
assert len(ones) == 2
first, second = ones
out = sys.argv[3]
assert open(os.path.join(out, "img-0001.dcm"), "rb").read() == open(recs[first], "rb").read()
assert open(os.path.join(out, f"{second}-img-0001.dcm"), "rb").read() == open(recs[second], "rb").read()
PY
pass "get --all: $(ls "$TMP/out1" | wc -l) records (40 MiB of attachments, FHIR) restored byte for byte; a shared name goes to the record listed first"

# One byte in the middle of the largest pack: inside some attachment block's ciphertext.
PACK=$(find "$TMP/mv/storage" -type f -name '*.pack' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
[ -n "$PACK" ] || PACK=$(find "$TMP/mv/storage" -path '*packs*' -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
[ -n "$PACK" ] || fail "no pack file found"
python3 - "$PACK" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    n = os.fstat(f.fileno()).st_size
    f.seek(n // 2)
    b = f.read(1)
    f.seek(n // 2)
    f.write(bytes([b[0] ^ 0x40]))
PY
if "$MV" get --deployment "$DEP" --user "$TMP/doc" --all -o "$TMP/out2" 2> "$TMP/get2.err"; then
  fail "get --all exited 0 with a corrupted block"
fi
N=$(check "$TMP/out2" "$TMP/get2.err") || { cat "$TMP/get2.err" >&2; [ -z "${KEEP_TMP:-}" ] || cp -r "$TMP" "$KEEP_TMP"; fail "restore with a corrupted block (above)"; }
[ "$N" -ge 1 ] || { cat "$TMP/get2.err" >&2; fail "no record reported failed"; }
pass "a corrupted block: $N record(s) reported and left out entirely, the other $(ls "$TMP/out2" | wc -l) restored, exit 1"

stop_pid "$UP"; PIDS=()
if "$MV" storage check --dir "$TMP/mv/storage" > "$TMP/check.out" 2>&1; then
  fail "storage check did not report the corrupted pack"
fi
pass "storage check reports the corrupted pack"
