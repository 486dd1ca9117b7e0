#!/usr/bin/env bash
# bench/pre_e2e.sh [BUILD_DIR] [--json] [--records N] [--runs R]
#
# A doctor's first read of a delegated episode, end to end (issue 16): a real deployment on
# loopback (`medvault up`: hospital, key servers, storage cloud = proxy 1, second cloud = proxy 2),
# a patient whose episode holds N records (default 100) written by her doctor, shared with one
# cardiologist by rewrap (`share grant --episode`) and with another through the two clouds
# (`share grant --episode --via-clouds`). Each run times one `medvault get` of all N records by
# each of them, alternately, in fresh processes (nothing of a previous read is kept: the cfrags
# are fetched again every time). Prints medians; --json prints one JSON object.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
JSON=0
N=100
RUNS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --json) JSON=1 ;;
    --records) N=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    -h|--help) sed -n '2,2p' "$0" | sed 's/^# /usage: /'; exit 0 ;;
    -*) echo "pre_e2e: unknown option $1" >&2; exit 2 ;;
    *) BUILD=$1 ;;
  esac
  shift
done
MV=$(realpath "$BUILD/medvault")
TMP=$(mktemp -d /tmp/medvault-pre-e2e.XXXXXX)
export MV_LOG=${MV_LOG:-warn}
UP_PID=
cleanup() {
  if [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null; then
    kill -TERM "$UP_PID"; wait "$UP_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
log() { [ "$JSON" = 1 ] || echo "$*"; }

# The guard's access profile would (rightly) ask for step-up after a few hundred reads an hour;
# the benchmark measures reading, so its floor is raised out of the way.
"$MV" up --dir "$TMP/mv" --profile-floor 1000000 > "$TMP/up.out" 2> "$TMP/up.err" &
UP_PID=$!
for _ in $(seq 600); do
  [ -f "$TMP/mv/ready" ] && break
  kill -0 "$UP_PID" 2>/dev/null || { cat "$TMP/up.err" >&2; echo "pre_e2e: medvault up failed" >&2; exit 1; }
  sleep 0.1
done
[ -f "$TMP/mv/ready" ] || { echo "pre_e2e: medvault up did not become ready" >&2; exit 1; }
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/public.json"))["sign_public_key"])' "$1"; }
for u in author rewrap clouds; do
  "$MV" user add --user "$ADMIN" --name "dr-$u" --role doctor --department cardiology --out "$TMP/$u" > /dev/null
done
"$MV" user add --user "$ADMIN" --name "Pat Bench" --role patient --department cardiology --out "$TMP/pat" > /dev/null
MRN=$("$MV" directory --user "$ADMIN" --role patient --name "pat bench" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["users"][0]["mrn"])')
APPT=$("$MV" appointment request --user "$TMP/pat" --department cardiology --reason "bench" --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$MV" appointment update "$APPT" --user "$ADMIN" --doctor "$(key_of "$TMP/author")" --at "$(date -u -d '+1 day' +%Y-%m-%dT09:30)" --place "room 1" > /dev/null
"$MV" appointment checkin "$APPT" --user "$TMP/author" > /dev/null
"$MV" delegate grant --user "$TMP/pat" --appointment "$APPT" > /dev/null
"$MV" gen-emr "$TMP/emr" "$N" --departments cardiology --seed 16 > /dev/null
"$MV" put --user "$TMP/author" --patient "$MRN" --appointment "$APPT" --json "$TMP/emr/cardiology" > "$TMP/put.json"
mapfile -t IDS < <(python3 -c 'import json,sys; [print(r["id"]) for r in json.load(open(sys.argv[1]))["records"]]' "$TMP/put.json")
[ "${#IDS[@]}" -eq "$N" ] || { echo "pre_e2e: wrote ${#IDS[@]} records, not $N" >&2; exit 1; }
"$MV" share grant --episode "$APPT" --to "$(key_of "$TMP/rewrap")" --user "$TMP/pat" > /dev/null
"$MV" share grant --episode "$APPT" --to "$(key_of "$TMP/clouds")" --via-clouds --department cardiology --user "$TMP/pat" > /dev/null
log "episode of $N records: shared by rewrap with dr-rewrap and through the clouds with dr-clouds"

read_all() { # USER -> seconds
  rm -rf "$TMP/out"; mkdir -p "$TMP/out"
  local t0 t1
  t0=$(date +%s.%N)
  "$MV" get --user "$1" -o "$TMP/out" "${IDS[@]}" > /dev/null 2> "$TMP/get.err" \
    || { cat "$TMP/get.err" >&2; echo "pre_e2e: get by $(basename "$1") failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  [ "$(find "$TMP/out" -type f | wc -l)" -eq "$N" ] || { echo "pre_e2e: $(basename "$1") got fewer than $N records" >&2; exit 1; }
  python3 -c "print($t1 - $t0)"
}
# One warm-up read each (page cache, first TLS-free connections), then alternate.
read_all "$TMP/rewrap" > /dev/null
read_all "$TMP/clouds" > /dev/null
rw=(); cl=()
for _ in $(seq "$RUNS"); do
  rw+=("$(read_all "$TMP/rewrap")")
  cl+=("$(read_all "$TMP/clouds")")
done
python3 - "$JSON" "$N" "$RUNS" "${rw[*]}" "${cl[*]}" <<'PY'
import json, statistics, sys
as_json, n, runs = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3])
rw = [float(x) for x in sys.argv[4].split()]; cl = [float(x) for x in sys.argv[5].split()]
r = {"records": n, "runs": runs, "rewrap_s": statistics.median(rw), "via_clouds_s": statistics.median(cl),
     "rewrap_all_s": rw, "via_clouds_all_s": cl}
r["ratio"] = r["via_clouds_s"] / r["rewrap_s"]
if as_json:
    print(json.dumps(r))
else:
    print(f"read of {n} records: rewrap {r['rewrap_s']:.2f} s, via the clouds {r['via_clouds_s']:.2f} s, "
          f"ratio {r['ratio']:.2f} (medians of {runs})")
PY
