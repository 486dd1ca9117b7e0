#!/usr/bin/env bash
# make run: the main job on the embedded default, as far as it exists today.
# Creates a hospital, starts three key servers on loopback that generate the OPRF key among
# themselves (DKG, threshold 2), registers a doctor, derives message-locked encryption keys
# for a few prescriptions through the threshold VOPRF, shows that one key server being down
# changes nothing, refreshes every share, and stops everything.
set -euo pipefail
MV=$(realpath "${1:-build/medvault}")
TMP=$(mktemp -d /tmp/medvault-run.XXXXXX)
PIDS=()
export MV_LOG=${MV_LOG:-warn}
cd "$(dirname "$0")/.."
source scripts/cluster.sh
trap 'stop_all; rm -rf "$TMP"' EXIT

say() { printf '\n== %s\n' "$*"; }

say "hospital key pair"
make_hospital
echo "hospital public key: $HK"

say "three key servers run a distributed key generation (t=2 of n=3) on loopback"
t0=$(date +%s.%N)
if ! dkg_cluster 3 2; then
  cat "$TMP"/ks*.log >&2
  echo "medvault: the key servers did not finish their DKG" >&2
  exit 1
fi
t1=$(date +%s.%N)
for i in 1 2 3; do echo "key server $i: http://127.0.0.1:${PORT[$i]} (pid ${KSPID[$i]})"; done
printf 'DKG finished in %.2f s; no process ever held the whole key\n' "$(echo "$t1 - $t0" | bc -l 2>/dev/null || python3 -c "print($t1-$t0)")"
"$MV" deployment show "$TMP/deployment.json"

say "a cardiology doctor and an admin get hospital-signed credentials"
make_user doctor doctor cardiology
make_user admin admin
"$MV" credential show "$TMP/doctor/credential" --hospital-key "$HK"

say "MLE keys for three prescription contents (two identical) via the threshold VOPRF"
p1='{"medication":"atorvastatin 20 mg tablet","dosage":"1 tablet at night"}'
p2='{"medication":"metoprolol 50 mg tablet","dosage":"1 tablet twice daily"}'
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
"$MV" oprf --deployment "$TMP/deployment.json" --user "$TMP/doctor" --json \
  "$(hex "$p1")" "$(hex "$p2")" "$(hex "$p1")" > "$TMP/oprf.json"
python3 - "$TMP/oprf.json" <<'PY'
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
o = d["outputs"]
# The outputs are key material: show only a fingerprint (SHA-256, 8 bytes), never the key.
for i, x in enumerate(o, 1):
    print(f"prescription {i}: MLE key fingerprint {hashlib.sha256(bytes.fromhex(x)).hexdigest()[:16]}")
print("servers:", ", ".join(f"{s['index']}={s['status']}" for s in d["servers"]))
print("identical contents give identical keys (dedup possible):", o[0] == o[2])
print("different contents give different keys:", o[0] != o[1])
PY

say "key server 1 stops: the client uses the other two, same keys"
kill -TERM "${KSPID[1]}"; wait "${KSPID[1]}" || true
"$MV" oprf --deployment "$TMP/deployment.json" --user "$TMP/doctor" --json "$(hex "$p1")" > "$TMP/oprf2.json" 2>/dev/null
python3 - "$TMP/oprf.json" "$TMP/oprf2.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
print("servers:", ", ".join(f"{s['index']}={s['status']}" for s in b["servers"]))
print("same key as before:", a["outputs"][0] == b["outputs"][0])
PY
start_keyserver 1
wait_http "http://127.0.0.1:${PORT[1]}/v1/info" || { echo "key server 1 did not restart" >&2; exit 1; }

say "proactive refresh: every share renewed, the key (and so every MLE key) unchanged"
"$MV" keyserver refresh --deployment "$TMP/deployment.json" --user "$TMP/admin"
"$MV" oprf --deployment "$TMP/deployment.json" --user "$TMP/doctor" --json "$(hex "$p1")" > "$TMP/oprf3.json"
python3 - "$TMP/oprf.json" "$TMP/oprf3.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
print("same key after refresh:", a["outputs"][0] == b["outputs"][0])
PY

say "metrics of key server 2 (excerpt)"
curl -s "http://127.0.0.1:${PORT[2]}/metrics" | grep -E '^medvault_keyserver_(evaluations_total|evaluate_requests_total) ' || true

say "stopping the key servers (SIGTERM)"
stop_all
PIDS=()
echo "done. The encrypted storage server and the full record pipeline arrive with the next issue."
