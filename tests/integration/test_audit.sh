#!/usr/bin/env bash
# The audit log through real processes (`medvault up`: hospital, three key servers, storage):
# requests are logged with their principal and never with record content; `audit fetch` works
# for an admin and is refused for a doctor; after SIGTERM `audit verify` accepts every
# daemon's log (hospital and key server against their known keys); editing one entry with sed
# or deleting one is detected, with a non-zero exit naming the seq (docs/audit.md).
source "$(dirname "$0")/lib.sh"

start_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
HURL=$(json_get "$TMP/up.json" 'd["hospital_url"]')
SURL=$(json_get "$TMP/up.json" 'd["storage_url"]')
KURL=$(json_get "$TMP/up.json" 'd["keyservers"][0]')
# up --json byte for byte: member order, compact, one line.
python3 - "$TMP/up.json" <<'EOF' || fail "up --json: the bytes differ from the pinned format"
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
d = json.loads(raw)
keys = ["deployment", "admin", "hospital_url", "storage_url", "decoy_url", "proxy_url", "keyservers", "threshold"]
want = "{" + ",".join('"%s":%s' % (k, json.dumps(d[k], ensure_ascii=False, separators=(",", ":"))) for k in keys) + "}\n"
assert len(d["keyservers"]) == 3 and d["threshold"] == 2, d
assert raw == want, (raw, want)
EOF
key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/public.json"))["sign_public_key"])' "$1"; }
pass "medvault up is ready"

"$MV" user add --user "$ADMIN" --name auditdoc --role doctor --department cardiology --out "$TMP/doc" > /dev/null
DOC=$(key_of "$TMP/doc")
MARKER="AuditPlaintextMarker$RANDOM$RANDOM"
cat > "$TMP/rx.json" <<JSON
{"resourceType":"MedicationRequest","status":"active","intent":"order",
 "authoredOn":"2026-11-23T09:45:00Z",
 "medicationCodeableConcept":{"text":"$MARKER 20 mg tablet"},
 "dosageInstruction":[{"text":"1 tablet daily"}]}
JSON
"$MV" put --user "$TMP/doc" --json "$TMP/rx.json" > "$TMP/w1.json"
RID=$(json_get "$TMP/w1.json" 'd["records"][0]["id"]')
"$MV" get --user "$TMP/doc" "$RID" -o "$TMP/back.json"
grep -q "$MARKER" "$TMP/back.json" || fail "the record did not round-trip"
curl -s -o /dev/null "$SURL/v1/records/$RID?probe=QueryMarker1" || true
pass "a doctor stored and read record $RID; an unauthenticated probe was sent"

# Fetch: admins only, from every kind of daemon.
for svc in hospital:$HURL storage:$SURL keyserver:$KURL; do
  name=${svc%%:*}; url=${svc#*:}
  "$MV" audit fetch --url "$url" --user "$ADMIN" --out "$TMP/fetch-$name" > /dev/null || fail "admin fetch from the $name failed"
  [ -s "$TMP/fetch-$name/audit.log" ] || fail "the fetched $name log is empty"
  "$MV" audit verify "$TMP/fetch-$name" > /dev/null || fail "the fetched $name log does not verify"
  "$MV" audit fetch --url "$url" --user "$TMP/doc" --out "$TMP/nofetch-$name" 2> "$TMP/nofetch.err" \
    && fail "a doctor fetched the $name audit log"
  grep -q 403 "$TMP/nofetch.err" || fail "a doctor's fetch from the $name should be refused with 403: $(cat "$TMP/nofetch.err")"
done
pass "audit fetch: an admin copies each daemon's log (and it verifies); a doctor is refused with 403"

stop_pid "$UP"
pass "medvault up stopped cleanly on SIGTERM"

HK=$(key_of "$TMP/mv/hospital"); KK=$(key_of "$TMP/mv/ks1")
"$MV" audit verify "$TMP/mv/hospital" --key "$HK" > "$TMP/v-h.out" || fail "hospital log: $(cat "$TMP/v-h.out")"
for i in 1 2 3; do
  "$MV" audit verify "$TMP/mv/ks$i" --key "$(key_of "$TMP/mv/ks$i")" > "$TMP/v-k.out" || fail "ks$i log: $(cat "$TMP/v-k.out")"
done
"$MV" audit verify "$TMP/mv/storage" --json > "$TMP/v-s.json" || fail "storage log: $(cat "$TMP/v-s.json")"
[ "$(json_get "$TMP/v-s.json" 'd["ok"] and d["unsigned_tail"] == 0 and d["checkpoints"] >= 1')" = True ] \
  || fail "the storage log should end with a checkpoint: $(cat "$TMP/v-s.json")"
python3 - "$TMP/v-s.json" <<'EOF' || fail "audit verify --json: the bytes differ from the pinned format"
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
d = json.loads(raw)
keys = ["ok", "path", "component", "key", "lines", "entries", "checkpoints", "last_checkpoint", "unsigned_tail",
        "checkpoint_head", "problem"]
want = "{" + ",".join('"%s":%s' % (k, json.dumps(d[k], ensure_ascii=False)) for k in keys) + "}\n"
assert raw == want, (raw, want)
EOF
"$MV" audit verify "$TMP/mv/hospital" --key "$KK" > "$TMP/v-wrong.out" && fail "the hospital log verified under a key server's key"
grep -q "key mismatch at seq 0" "$TMP/v-wrong.out" || fail "a wrong --key should be named: $(cat "$TMP/v-wrong.out")"
pass "after SIGTERM every daemon's log verifies (hospital and key servers against their keys); a wrong --key fails"

SLOG=$TMP/mv/storage/audit/audit.log
grep -q "\"principal\":\"$DOC\",\"address\":\"127.0.0.1\",\"action\":\"POST /v1/records\",\"result\":200" "$SLOG" \
  || fail "the storage log lacks the doctor's record upload"
# The probe was answered from the decoy cloud (200, a decoy); the log, which only the
# hospital's admins read, says so.
grep -q "\"action\":\"GET /v1/records/$RID\",\"result\":200,\"note\":\"decoy:unauthenticated\"" "$SLOG" \
  || fail "the storage log lacks the unauthenticated probe answered with a decoy"
grep -q "\"action\":\"GET /v1/audit\",\"result\":403" "$SLOG" || fail "the storage log lacks the doctor's refused fetch"
grep -q "\"principal\":\"$(key_of "$ADMIN")\",\"address\":\"127.0.0.1\",\"action\":\"POST /v1/users\",\"result\":20" \
  "$TMP/mv/hospital/audit/audit.log" || fail "the hospital log lacks the admin adding a user"
grep -q '"type":"event".*"action":"stop"' "$SLOG" || fail "the storage log lacks its stop event"
if grep -rl "QueryMarker1" "$TMP/mv/hospital/audit" "$TMP/mv/storage/audit" "$TMP"/mv/ks*/audit; then
  fail "a query string reached an audit log"; fi
if grep -rl "$MARKER" "$TMP/mv/hospital" "$TMP/mv/storage" "$TMP"/mv/ks* "$TMP"/fetch-*; then
  fail "record plaintext found in a service directory or an audit log"; fi
pass "entries name principal, address, action and status; no query string and no record plaintext anywhere"

# Tampering: edit one entry's result with sed, delete one entry.
mkdir -p "$TMP/t1" "$TMP/t2"
cp "$SLOG" "$TMP/t1/audit.log"; cp "$SLOG" "$TMP/t2/audit.log"
N=$(grep -n '"action":"POST /v1/records"' "$TMP/t1/audit.log" | head -1 | cut -d: -f1)
sed -i "${N}s/\"result\":200/\"result\":500/" "$TMP/t1/audit.log"
cmp -s "$SLOG" "$TMP/t1/audit.log" && fail "sed did not edit the entry"
rc=0; "$MV" audit verify "$TMP/t1" > "$TMP/t1.out" || rc=$?
[ "$rc" -eq 1 ] || fail "an edited entry should fail verification with exit 1 (got $rc): $(cat "$TMP/t1.out")"
grep -q "hash mismatch at seq $((N - 1))" "$TMP/t1.out" || fail "the edit should be named at seq $((N - 1)): $(cat "$TMP/t1.out")"
sed -i "${N}d" "$TMP/t2/audit.log"
rc=0; "$MV" audit verify "$TMP/t2" --json > "$TMP/t2.json" || rc=$?
[ "$rc" -eq 1 ] || fail "a deleted entry should fail verification with exit 1 (got $rc)"
[ "$(json_get "$TMP/t2.json" 'd["problem"] == "seq gap" and d["bad_seq"] == '"$((N - 1))")" = True ] \
  || fail "the deletion should be a seq gap at seq $((N - 1)): $(cat "$TMP/t2.json")"
pass "editing entry $((N - 1)) with sed: hash mismatch at that seq; deleting it: seq gap at that seq (exit 1)"

# A daemon refuses to append to a tampered log.
cp "$TMP/t1/audit.log" "$SLOG"
"$MV" storage run --dir "$TMP/mv/storage" --listen 127.0.0.1:0 --hospital-key "$HK" 2> "$TMP/s2.err" &
S2=$!
PIDS+=("$S2")
wait_for 10 gone "$S2" || fail "the storage server started on a tampered audit log"
grep -q "fails verification at seq $((N - 1))" "$TMP/s2.err" || fail "the refusal should name the seq: $(cat "$TMP/s2.err")"
pass "a storage server does not start on a tampered audit log"
