#!/usr/bin/env bash
# bench/fhir_import.sh [BUILD_DIR] [--count N] [--write FILE] : FHIR-native import (issue 14) on
# a real deployment (`medvault up` on loopback): a FHIR Bulk Data export from bench/gen_fhir.py
# (N resources of each of six types, one NDJSON file per type) is imported by one doctor; then
# the same export again (every resource unchanged: nothing stored), again with one resource
# changed (one new version), and the same resources as one file each. Then the local index:
# `ls --type` on a warm index, and a second device of the same user (a copy of her keys without
# the index) rebuilding it from the storage server. Then `medvault fhir serve`: searches of
# one page (_count=50) through curl. Wall-clock times of whole commands, on a shared machine:
# compare numbers of one run.
# With --write FILE the section between <!-- fhir:begin --> and <!-- fhir:end --> in FILE is
# replaced (appended when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
B=build
N=400
WRITE=
while [ $# -gt 0 ]; do
  case "$1" in
    --count) N=$2; shift ;;
    --write) WRITE=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) B=$1 ;;
  esac
  shift
done
MV=$(realpath "$B/medvault")
TMP=$(mktemp -d /tmp/mv-fhirbench.XXXXXX)
UP=
FS=
cleanup() {
  for p in $FS $UP; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
export MV_LOG=warn

"$MV" up --dir "$TMP/mv" > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!
for _ in $(seq 300); do [ -f "$TMP/mv/ready" ] && break; kill -0 "$UP" 2>/dev/null || break; sleep 0.2; done
[ -f "$TMP/mv/ready" ] || { cat "$TMP/up.err" >&2; echo "fhir_import.sh: medvault up did not start" >&2; exit 1; }
DEP=$TMP/mv/deployment.json
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name fhir-bench --role doctor --department cardiology \
  --out "$TMP/doc" > /dev/null
# Her phone, registered for step-up: a new device reading all her records is a bulk read.
"$MV" keygen --out "$TMP/phone" > /dev/null
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sign_public_key"])' "$TMP/doc/public.json")
"$MV" user device add "$KEY" --device-key "$TMP/phone" --deployment "$DEP" --user "$TMP/mv/admin" > /dev/null

TYPES="Patient Observation Condition MedicationRequest Encounter Immunization"
for t in $TYPES; do
  python3 bench/gen_fhir.py --out "$TMP/bulk" --count "$N" --type "$t" --ndjson --seed 42 --department cardiology --refs relative
  python3 bench/gen_fhir.py --out "$TMP/files" --count "$N" --type "$t" --seed 43 --department cardiology --refs relative
done
TOTAL=$(cat "$TMP"/bulk/*.ndjson | wc -l)

# secs CMD... : runs CMD (its output to $TMP/last.out), prints its wall-clock seconds.
secs() {
  local s e
  s=$(date +%s.%N)
  "$@" > "$TMP/last.out" 2> "$TMP/last.err" || { cat "$TMP/last.err" >&2; echo "fhir_import.sh: $* failed" >&2; exit 1; }
  e=$(date +%s.%N)
  python3 -c "print(f'{$e - $s:.3f}')"
}
stat_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stats"][sys.argv[2]])' "$TMP/last.out" "$1"; }

put() { "$MV" put --deployment "$DEP" --user "$TMP/doc" --json "$@"; }
T_FIRST=$(secs put "$TMP/bulk"); S_FIRST=$(stat_of records)
T_AGAIN=$(secs put "$TMP/bulk"); U_AGAIN=$(stat_of unchanged); S_AGAIN=$(stat_of records)
python3 - "$TMP/bulk/Observation.ndjson" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[0]); r["status"] = "amended"; lines[0] = json.dumps(r)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
T_CHANGED=$(secs put "$TMP/bulk"); V_CHANGED=$(stat_of new_versions)
T_FILES=$(secs put "$TMP/files"); S_FILES=$(stat_of records)
INDEX_BYTES=$(stat -c %s "$TMP/doc/fhir-index")

T_LS=$(secs "$MV" ls --deployment "$DEP" --user "$TMP/doc" --type Observation --json)
LS_TOTAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' "$TMP/last.out")
# A second device: the same keys and credential, no index. Reading every record is a bulk read:
# the access profile asks for step-up, which she passes with her phone (timed with the rest).
mkdir -p "$TMP/device2"
cp "$TMP/doc/keys" "$TMP/doc/credential" "$TMP/doc/public.json" "$TMP/doc/hospital.pin" "$TMP/device2/" 2>/dev/null || true
rebuild() {
  "$MV" ls --deployment "$DEP" --user "$TMP/device2" --type Observation --json > "$TMP/ls2.out" 2> "$TMP/ls2.err" && return 0
  grep -q "step-up required" "$TMP/ls2.err" || { cat "$TMP/ls2.err" >&2; return 1; }
  STEPPED=1
  "$MV" stepup --deployment "$DEP" --user "$TMP/device2" --device-key "$TMP/phone" > /dev/null &&
    "$MV" ls --deployment "$DEP" --user "$TMP/device2" --type Observation --json > "$TMP/ls2.out"
}
STEPPED=0
s0=$(date +%s.%N)
rebuild || { echo "fhir_import.sh: the second device could not rebuild its index" >&2; exit 1; }
T_REBUILD=$(python3 -c "print(f'{$(date +%s.%N) - $s0:.3f}')")
cp "$TMP/ls2.out" "$TMP/last.out"
REBUILD_TOTAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' "$TMP/last.out")
[ "$REBUILD_TOTAL" = "$LS_TOTAL" ] || { echo "fhir_import.sh: the rebuilt index lists $REBUILD_TOTAL Observations, not $LS_TOTAL" >&2; exit 1; }

# The second device holds the step-up grant the rebuild needed: it serves.
"$MV" fhir serve --deployment "$DEP" --user "$TMP/device2" --token-file "$TMP/fhir.token" --port-file "$TMP/fhir.port" \
  > "$TMP/fhir.out" 2> "$TMP/fhir.err" &
FS=$!
for _ in $(seq 200); do [ -s "$TMP/fhir.port" ] && break; sleep 0.1; done
[ -s "$TMP/fhir.port" ] || { cat "$TMP/fhir.err" >&2; echo "fhir_import.sh: fhir serve did not start" >&2; exit 1; }
URL="http://127.0.0.1:$(cat "$TMP/fhir.port")"
TOKEN=$(cat "$TMP/fhir.token")
: > "$TMP/search.times"
for i in $(seq 0 19); do
  curl -s -o "$TMP/page.json" -w '%{time_total}\n' -m 60 -H "Authorization: Bearer $TOKEN" \
    "$URL/Observation?_count=50&_offset=$((i * 10))" >> "$TMP/search.times"
done
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["resourceType"]=="Bundle" and len(b["entry"])==50, b' "$TMP/page.json"

python3 - "$WRITE" <<PY
import os, statistics, subprocess, sys
write = sys.argv[1]
t = sorted(float(x) for x in open("$TMP/search.times").read().split())
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
total, first, again, changed, files = $TOTAL, $T_FIRST, $T_AGAIN, $T_CHANGED, $T_FILES
o = ["## FHIR-native import, versions and the local index (issue 14)", ""]
o.append(f"Produced by \`bash bench/fhir_import.sh build --write docs/BENCHMARKS.md\` (run by \`make bench\`) at commit {commit}: "
         f"one doctor on \`medvault up\` (loopback), a FHIR Bulk Data export from \`bench/gen_fhir.py\` of $N resources of each "
         f"of six types ({total} resources, one NDJSON file per type). Wall-clock seconds of whole commands; the machine is "
         "shared and noisy.")
o.append("")
o.append("| step | seconds | resources/s | stored | note |")
o.append("|---|---:|---:|---:|---|")
o.append(f"| first import (NDJSON) | {first:.2f} | {total / first:,.0f} | $S_FIRST | every line its own record, version 1; "
         f"{total - $S_FIRST} lines repeat a resource earlier in the export (same id and content: one record) |")
o.append(f"| the same export again | {again:.2f} | {total / again:,.0f} | $S_AGAIN | $U_AGAIN unchanged: nothing stored |")
o.append(f"| again, one resource changed | {changed:.2f} | {total / changed:,.0f} | $V_CHANGED | one new version |")
o.append(f"| {total} other resources, one JSON file each | {files:.2f} | {total / files:,.0f} | $S_FILES | the rest repeat one |")
o.append(f"| \`ls --type Observation --json\` (index up to date) | $T_LS | | | {$LS_TOTAL} of them |")
o.append(f"| the same on a second device (no index: rebuilt from the storage server) | $T_REBUILD | | | every record fetched and decrypted once{'; a step-up with her phone included' if $STEPPED else ''} |")
o.append(f"| \`fhir serve\`: \`GET /Observation?_count=50\`, 20 pages through curl | p50 {statistics.median(t):.3f}, max {t[-1]:.3f} | | | |")
o.append("")
o.append(f"The local index held {$INDEX_BYTES:,} bytes after these imports ({$INDEX_BYTES / (2 * total + 1):.0f} bytes per record, sealed entries).")
section = "\n".join(o) + "\n"
print(section)
if write:
    subprocess.run([sys.executable, "bench/write_section.py", write, "fhir"], input=section, text=True, check=True)
    print(f"fhir_import.sh: wrote the section into {write}", file=sys.stderr)
PY
