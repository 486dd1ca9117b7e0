#!/usr/bin/env bash
# make run: the main job on the embedded default.
# `medvault up` starts the hospital, three key servers (threshold 2, key from their DKG) and the
# storage server on loopback. Two cardiology doctors and one neurology doctor are registered,
# a few hundred synthetic FHIR prescriptions are encrypted on the "doctors' machines" and
# uploaded, and the run prints the storage savings and throughput, reads a record back and
# checks it, shows that the storage directory holds no plaintext, and stops everything.
set -euo pipefail
MV=$(realpath "${1:-build/medvault}")
TMP=$(mktemp -d /tmp/medvault-run.XXXXXX)
export MV_LOG=${MV_LOG:-warn}
UP_PID=
cleanup() {
  if [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null; then
    kill -TERM "$UP_PID"; wait "$UP_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
N=${MV_RUN_PRESCRIPTIONS:-400}

say "medvault up: hospital, 3 key servers (t=2, DKG), storage server on loopback"
"$MV" up --dir "$TMP/mv" > "$TMP/up.out" 2> "$TMP/up.err" &
UP_PID=$!
for _ in $(seq 600); do
  [ -f "$TMP/mv/ready" ] && break
  kill -0 "$UP_PID" 2>/dev/null || { cat "$TMP/up.err" >&2; echo "medvault up failed" >&2; exit 1; }
  sleep 0.1
done
[ -f "$TMP/mv/ready" ] || { cat "$TMP/up.err" >&2; echo "medvault up did not become ready" >&2; exit 1; }
cat "$TMP/up.out"
DEP=$TMP/mv/deployment.json

say "the admin registers two cardiology doctors and one neurology doctor"
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name dr-alvarez --role doctor --department cardiology --out "$TMP/dr-alvarez"
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name dr-bauer --role doctor --department cardiology --out "$TMP/dr-bauer"
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name dr-chen --role doctor --department neurology --out "$TMP/dr-chen"

say "synthetic FHIR R4 prescriptions ($N, departments cardiology and neurology)"
"$MV" gen-emr "$TMP/emr" "$N" --departments cardiology,neurology --seed 7 > /dev/null
python3 - "$TMP/emr" <<'PY'
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], "manifest.json")))
for d, v in m["departments"].items():
    print(f"{d}: {v['prescriptions']} prescriptions")
PY
# The cardiology files are split between the two cardiology doctors.
mkdir -p "$TMP/in/a" "$TMP/in/b"
i=0
for f in "$TMP"/emr/cardiology/*.json; do
  if [ $((i % 2)) -eq 0 ]; then cp "$f" "$TMP/in/a/"; else cp "$f" "$TMP/in/b/"; fi
  i=$((i + 1))
done

say "each doctor encrypts and uploads (threshold VOPRF keys, dedup tokens, proofs of ownership)"
put() { # USER DIR
  "$MV" put --deployment "$DEP" --user "$1" --json "$2" > "$TMP/put-$(basename "$1").json"
  python3 - "$TMP/put-$(basename "$1").json" "$(basename "$1")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
print(f"{sys.argv[2]}: {s['records']} records in {s['seconds']:.2f} s ({s['records_per_second']:.0f} records/s), "
      f"{s['unique_blocks']} distinct content blocks: {s['uploaded_blocks']} uploaded, "
      f"{s['proven_blocks']} already stored (proof of ownership), {s['oprf_evaluations']} OPRF evaluations")
PY
}
put "$TMP/dr-alvarez" "$TMP/in/a"
put "$TMP/dr-bauer" "$TMP/in/b"
put "$TMP/dr-chen" "$TMP/emr/neurology"

say "storage savings (the storage server's statistics)"
"$MV" stats --deployment "$DEP" --user "$TMP/mv/admin"

say "dr-bauer reads one of her records back; it equals the canonical form of the original"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["id"])' "$TMP/put-dr-bauer.json")
SRC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["path"])' "$TMP/put-dr-bauer.json")
"$MV" get --deployment "$DEP" --user "$TMP/dr-bauer" "$ID" -o "$TMP/back.json"
"$MV" canon "$SRC" > "$TMP/canon.json"
if cmp -s <(printf '%s\n' "$(cat "$TMP/back.json")") "$TMP/canon.json"; then
  echo "record $ID: byte-identical to the canonical form of $(basename "$SRC") ($(wc -c < "$TMP/back.json") bytes)"
else
  echo "record $ID does not match its original" >&2; exit 1
fi
if "$MV" get --deployment "$DEP" --user "$TMP/dr-chen" "$ID" -o "$TMP/nope.json" 2> "$TMP/nope.err"; then
  echo "dr-chen (neurology) could read a cardiology record" >&2; exit 1
fi
echo "dr-chen (not a reader) is refused: $(head -1 "$TMP/nope.err")"

say "the storage directory holds no plaintext"
python3 - "$TMP/emr/manifest.json" "$TMP/mv/storage" <<'PY'
import json, os, sys
drugs = json.load(open(sys.argv[1]))["drugs"]
hits = 0; size = 0
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        data = open(os.path.join(root, f), "rb").read(); size += len(data)
        low = data.lower()
        hits += sum(1 for d in drugs if d.lower().encode() in low)
print(f"searched {size} bytes for {len(drugs)} drug names: {hits} found")
sys.exit(1 if hits else 0)
PY

say "stopping medvault up (SIGTERM)"
kill -TERM "$UP_PID"; wait "$UP_PID"; UP_PID=
echo "done."
