#!/usr/bin/env bash
# test_guard.sh - the primary storage server's guard (docs/guard.md) through real processes: a
# deployment (`medvault up`: hospital, key servers), the decoy cloud (`storage run --role
# decoy`) and a primary with --decoy-url, --identity and a small --profile-floor. An
# unauthenticated read, a forged credential, a revoked user and an expired credential get
# decoys with the status, header names and body size of the owner's real answer (different
# bytes); a honeytoken read gets a 200 and an alert; a burst by a valid doctor gets a step-up
# demand, then decoys, and real data with a device step-up grant; a doctor reading their own
# delegated records at normal volume gets real bytes and raises no alert. Each scenario raises
# exactly one alert at the hospital (`medvault alerts --json`), delivered once to a webhook
# receiver this test starts. A thief with a doctor's keys but not their device fails step-up
# and gets decoys that decrypt to plausible fake FHIR. No service directory holds record
# plaintext. Prints real vs decoy latency.
source "$(dirname "$0")/lib.sh"
PROBE="python3 $(dirname "$0")/guard_probe.py"

FLOOR=40
MARKER="GuardPlaintextMarker$RANDOM$RANDOM"
# The webhook receiver: one line per alert the hospital delivers.
"$MV_WEBHOOK_SINK_BIN" "$TMP/sink.port" "$TMP/sink.out" 2> "$TMP/sink.log" &
PIDS+=("$!")
wait_for 5 nonempty "$TMP/sink.port" || fail "the webhook receiver did not start"
"$MV" up --dir "$TMP/mv" --revocation-poll 1 --webhook "http://127.0.0.1:$(cat "$TMP/sink.port")/alerts" \
  > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!
PIDS+=("$UP")
wait_up
DEP=$TMP/mv/deployment.json
export MEDVAULT_DEPLOYMENT=$DEP
ADMIN=$TMP/mv/admin
HK=$(json_get "$DEP" 'd["hospital_public_key"]')
HURL=$(json_get "$DEP" 'd["hospital_url"]')
key_of() { json_get "$1/public.json" 'd["sign_public_key"]'; }

# The primary's storage identity (a `storage` credential issued offline with the hospital key).
"$MV" keygen --out "$TMP/primary-id" > /dev/null
PPK=$(key_of "$TMP/primary-id")
"$MV" credential issue --hospital-dir "$TMP/mv/hospital" --subject "$PPK" --role storage \
  --out "$TMP/primary-id/credential" > /dev/null

start_storage() { # NAME ARGS... : starts a storage server, sets URL_<NAME>
  local name=$1; shift
  "$MV" storage run --dir "$TMP/$name" --listen 127.0.0.1:0 --hospital-key "$HK" --port-file "$TMP/$name.port" \
    "$@" 2>> "$TMP/$name.log" &
  PIDS+=("$!")
  wait_for 10 nonempty "$TMP/$name.port" || { cat "$TMP/$name.log" >&2; fail "$name did not start"; }
  printf -v "URL_$name" '%s' "http://127.0.0.1:$(cat "$TMP/$name.port")"
}
start_storage decoy --role decoy --primary-key "$PPK"
# A 5 s clock skew on the primary: a credential that ran out 6 s ago counts as expired (not a
# clock problem) without the test waiting the default 300 s.
mkdir -p -m 700 "$TMP/primary"
echo "skew_seconds = 5" > "$TMP/primary/storage.conf"
start_storage primary --identity "$TMP/primary-id" --decoy-url "$URL_decoy" --hospital-url "$HURL" \
  --revocation-poll 1 --profile-floor "$FLOOR"
URL=$URL_primary
# Clients use the guarded primary.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["storage_url"]=sys.argv[2]; json.dump(d,open(sys.argv[1],"w"))' "$DEP" "$URL"
pass "hospital, key servers, decoy cloud and the guarded primary are up"

add() { "$MV" user add --user "$ADMIN" --name "$1" --role "$2" --department cardiology --out "$TMP/$1" > /dev/null; }
add alvarez doctor; add bauer doctor; add chen doctor; add rossi doctor; add dana patient
"$MV" directory --user "$ADMIN" --role patient --name dana --json > "$TMP/dir.json"
MRN=$(json_get "$TMP/dir.json" 'd["users"][0]["mrn"]')
"$MV" appointment request --user "$TMP/dana" --department cardiology --reason follow-up --json > "$TMP/a.json"
APPT=$(json_get "$TMP/a.json" 'd["id"]')
"$MV" appointment update "$APPT" --user "$ADMIN" --doctor "$(key_of "$TMP/alvarez")" --at 2026-11-23T09:30 --place R1 > /dev/null
"$MV" delegate grant --user "$TMP/dana" --appointment "$APPT" > /dev/null
for i in 1 2 3; do
  cat > "$TMP/rx$i.json" <<JSON
{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/$MRN"},
 "authoredOn":"2026-11-23T09:4$i:00Z","medicationCodeableConcept":{"text":"Atorvastatin $((i * 10)) mg tablet"},
 "dosageInstruction":[{"text":"1 tablet daily"}],"note":[{"text":"$MARKER"}]}
JSON
done
"$MV" put --user "$TMP/alvarez" --patient "$MRN" --appointment "$APPT" --json "$TMP/rx1.json" "$TMP/rx2.json" "$TMP/rx3.json" > "$TMP/w.json"
RID=$(json_get "$TMP/w.json" 'd["records"][0]["id"]')
RIDS=$(json_get "$TMP/w.json" '",".join(r["id"] for r in d["records"])')
cat > "$TMP/note.json" <<JSON
{"resourceType":"Observation","status":"final","code":{"text":"Heart rate $MARKER"},"valueQuantity":{"value":72,"unit":"beats/min"}}
JSON
"$MV" put --user "$TMP/bauer" --json "$TMP/note.json" > "$TMP/wb.json"
BID=$(json_get "$TMP/wb.json" 'd["records"][0]["id"]')
pass "a doctor wrote three delegated records for the patient ($RID ...), another doctor one note"

# Alerts at the hospital from the primary (source storage), by kind and reason.
alerts_json() { "$MV" alerts --user "$ADMIN" --json > "$TMP/alerts.json"; }
alert_rows() { # KIND REASON -> number of rows
  alerts_json
  json_get "$TMP/alerts.json" "len([a for a in d['alerts'] if a['source']=='storage' and a['kind']=='$1' and a['reason']=='$2'])"
}
alert_count() { # KIND REASON -> summed count
  json_get "$TMP/alerts.json" "sum(a.get('count',1) for a in d['alerts'] if a['source']=='storage' and a['kind']=='$1' and a['reason']=='$2')"
}
alert_seen() { # KIND REASON EVENTS : an alert row counting at least EVENTS requests
  [ "$(alert_rows "$1" "$2")" -ge 1 ] && [ "$(alert_count "$1" "$2")" -ge "$3" ]
}
expect_one_alert() { # KIND REASON WHAT [EVENTS] : one alert row counting EVENTS (default 1) requests
  local n want=${4:-1}
  wait_for 10 alert_seen "$1" "$2" "$want" || true
  n=$(alert_rows "$1" "$2")
  [ "$n" -eq 1 ] || fail "$3: expected one $1 alert '$2', found $n rows"
  [ "$(alert_count "$1" "$2")" -eq "$want" ] || fail "$3: the $1 alert '$2' counts $(alert_count "$1" "$2") events, not $want"
}

# The real answer: the owner reads the record (a normal read).
ALV=$(key_of "$TMP/alvarez")
$PROBE "$URL" GET "/v1/records/$RID" --user "$TMP/alvarez" --out "$TMP/real.json" --body-out "$TMP/real.bin" > /dev/null
[ "$(json_get "$TMP/real.json" 'd["status"]')" -eq 200 ] || fail "the owner's real read failed: $(cat "$TMP/real.json")"
cp "$TMP/real.json" "$TMP/real0.json"
same_shape() { # FILE WHAT : same status, header names (in order), content type and size as the real answer; other bytes
  python3 - "$TMP/real.json" "$1" "$2" <<'PY' || exit 1
import json, sys
r, d, what = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
for k in ("status", "headers", "content_type", "body_len"):
    if r[k] != d[k]:
        sys.exit("FAIL: %s: %s differs: real %r, decoy %r" % (what, k, r[k], d[k]))
if r["body_sha256"] == d["body_sha256"]:
    sys.exit("FAIL: %s: the decoy has the real bytes" % what)
if sorted(r["header_values"]) != sorted(d["header_values"]):
    sys.exit("FAIL: %s: MV-* headers differ" % what)
PY
}

# 1. Unauthenticated: a decoy whose metadata is invented (never the real owner, patient,
# episode or size), the same on every fetch, and an alert that names no key.
$PROBE "$URL" GET "/v1/records/$RID" --out "$TMP/d1.json" --body-out "$TMP/d1.bin" > /dev/null
# The invented world depends on the record id alone, never on the real record: like the real
# world, about one record in ten has no patient (a doctor's own note), so its answer carries
# the real answer's header names, or those without MV-Record-Patient and MV-Record-Episode.
invented() { # FILE WHAT : status and header names of a real answer; every MV-* value and the bytes differ
  python3 - "$TMP/real0.json" "$1" "$2" <<'PY' || exit 1
import json, sys
r, d, what = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
for k in ("status", "content_type"):
    if r[k] != d[k]:
        sys.exit("FAIL: %s: %s differs: real %r, decoy %r" % (what, k, r[k], d[k]))
own_note = [h for h in r["headers"] if h not in ("MV-Record-Patient", "MV-Record-Episode")]
if d["headers"] not in (r["headers"], own_note):
    sys.exit("FAIL: %s: headers differs: real %r, decoy %r" % (what, r["headers"], d["headers"]))
if r["body_sha256"] == d["body_sha256"]:
    sys.exit("FAIL: %s: the decoy has the real bytes" % what)
for k, v in r["header_values"].items():
    if d["header_values"].get(k) == v:
        sys.exit("FAIL: %s: the decoy carries the real %s" % (what, k))
PY
}
invented "$TMP/d1.json" "unauthenticated read"
$PROBE "$URL" GET "/v1/records/$RID" --out "$TMP/d1b.json" > /dev/null
[ "$(json_get "$TMP/d1b.json" 'd["body_sha256"]')" = "$(json_get "$TMP/d1.json" 'd["body_sha256"]')" ] || fail "two decoy fetches differ"
[ "$(json_get "$TMP/d1b.json" 'd["header_values"]')" = "$(json_get "$TMP/d1.json" 'd["header_values"]')" ] || fail "two decoy fetches carry other metadata"
expect_one_alert decoy_served unauthenticated "unauthenticated read"
[ "$(json_get "$TMP/alerts.json" "[a['principal'] for a in d['alerts'] if a['reason']=='unauthenticated']")" = "['']" ] ||
  fail "the unauthenticated alert names a key"
pass "unauthenticated read: 200 with the real answer's header names, invented owner/patient/episode and bytes, the same twice; one alert naming nobody"

# 2. Forged credential (signed by a key that is not the hospital's): unverified, invented.
$PROBE "$URL" GET "/v1/records/$RID" --user "$TMP/chen" --forge --out "$TMP/d2.json" > /dev/null
invented "$TMP/d2.json" "forged credential"
expect_one_alert decoy_served "forged credential" "forged credential"
[ "$(json_get "$TMP/alerts.json" "[a['principal'] for a in d['alerts'] if a['reason']=='forged credential']")" = "['']" ] ||
  fail "the forged-credential alert names the claimed key as its principal"
pass "forged credential: an invented decoy; one alert that names no key"

# 3. Expired credential (authentic, and the request signed by its subject): a proven key, a
# reader of the record: a decoy of the real shape, wrapped to her. Her credential ran out a
# second after the record was made; once it ran out more than this primary's 5 s skew ago, it
# is expired (not a clock problem).
$PROBE "$URL" GET "/v1/records/$RID" --user "$TMP/dana" --out "$TMP/dreal.json" > /dev/null
cp "$TMP/dreal.json" "$TMP/real.json"
EXP=$(( $(date +%s) + 1 ))
clock_past() { [ "$(date +%s)" -gt "$1" ]; }
wait_for 10 clock_past $((EXP + 5)) || fail "the clock did not pass the credential's expiry and skew"
$PROBE "$URL" GET "/v1/records/$RID" --user "$TMP/dana" --expired-by "$TMP/mv/hospital" --expires-at "$EXP" \
  --out "$TMP/d3.json" > /dev/null
same_shape "$TMP/d3.json" "expired credential"
expect_one_alert decoy_served "expired credential" "expired credential"
# ... a record she does not read is no record at all for her, and neither is one made after her
# credential ran out (she never saw it: nothing about it reaches the holder of that credential).
$PROBE "$URL" GET "/v1/records/$BID" --user "$TMP/dana" --expired-by "$TMP/mv/hospital" --expires-at "$EXP" \
  --out "$TMP/d3b.json" > /dev/null
[ "$(json_get "$TMP/d3b.json" 'd["status"]')" -eq 404 ] || fail "an expired caller saw another reader's record: $(cat "$TMP/d3b.json")"
"$MV" put --user "$TMP/alvarez" --patient "$MRN" --appointment "$APPT" --json "$TMP/rx2.json" > "$TMP/wlate.json"
LATE=$(json_get "$TMP/wlate.json" 'd["records"][0]["id"]')
$PROBE "$URL" GET "/v1/records/$LATE" --user "$TMP/dana" --expired-by "$TMP/mv/hospital" --expires-at "$EXP" \
  --out "$TMP/d3c.json" > /dev/null
[ "$(json_get "$TMP/d3c.json" 'd["status"]')" -eq 404 ] || fail "an expired caller saw a record made after her credential ran out"
pass "expired credential: decoy of her own record's shape; none of another's, none made after her credential ran out; one alert"

# 4. Revoked user, once the primary has polled the new revocation list: his own record's shape.
"$MV" put --user "$TMP/rossi" --json "$TMP/note.json" > "$TMP/wr.json"
ROS=$(json_get "$TMP/wr.json" 'd["records"][0]["id"]')
$PROBE "$URL" GET "/v1/records/$ROS" --user "$TMP/rossi" --out "$TMP/real.json" > /dev/null
serial() { metric "$URL" "$TMP/primary" medvault_storage_revocation_serial; }
serial_above() { [ "$(serial)" -gt "$1" ]; }
SERIAL=$(serial)
"$MV" user status "$(key_of "$TMP/rossi")" revoked --user "$ADMIN" > /dev/null
wait_for 10 serial_above "$SERIAL" || fail "the primary did not install the new revocation list (serial $(serial))"
$PROBE "$URL" GET "/v1/records/$ROS" --user "$TMP/rossi" --out "$TMP/d4.json" > /dev/null
same_shape "$TMP/d4.json" "revoked user"
expect_one_alert decoy_served "revoked credential" "revoked user"
pass "revoked user: decoy; one alert"

# Clock skew keeps the plain 401 (a doctor's bad clock never gets fakes): a replayed request.
# (A replay is the reachable honest failure here; skew is covered by test_guard.c.)

# 5. Honeytokens: planted by the admin, read by a valid doctor who is not a reader.
"$MV" honeytoken plant --user "$ADMIN" --department cardiology --count 3 --json > "$TMP/ht.json"
HT=$(json_get "$TMP/ht.json" 'd["honeytokens"][0]["id"]')
"$MV" honeytoken list --user "$ADMIN" --json > "$TMP/htl.json"
[ "$(json_get "$TMP/htl.json" 'len(d["honeytokens"])')" -eq 3 ] || fail "honeytoken list should hold 3"
"$MV" honeytoken list --user "$TMP/chen" > /dev/null 2>&1 && fail "a doctor listed the honeytokens"
$PROBE "$URL" GET "/v1/records/$HT" --user "$TMP/chen" --out "$TMP/h1.json" > /dev/null
[ "$(json_get "$TMP/h1.json" 'd["status"]')" -eq 200 ] || fail "a honeytoken read should answer 200: $(cat "$TMP/h1.json")"
[ "$(json_get "$TMP/h1.json" 'd["headers"]')" = "$(json_get "$TMP/real0.json" 'd["headers"]')" ] || fail "honeytoken answer headers differ from a real record's"
expect_one_alert honeytoken "honeytoken read" "honeytoken read"
# Unverified callers see honeytokens only as members of the invented pool, with invented
# metadata: never the planting admin's key or the department (their creation time is the one
# their time-ordered ids carry, as for any record).
ADMK=$(key_of "$ADMIN")
for i in 1 2 3 4 5; do
  curl -s -H "MV-Key: $(printf '%064x' "$i")" "$URL/v1/records" > "$TMP/list$i.json"
  [ "$(json_get "$TMP/list$i.json" "sum('$ADMK' in (r['owner'], r['patient']) for r in d['records'])")" -eq 0 ] ||
    fail "an unauthenticated listing shows a honeytoken's real owner"
done
pass "honeytokens: planted, listed (admins only), a read answers 200 and raises one alert; unverified listings never show their real metadata"

# 6. Normal use: the owner and the patient read the delegated records, real bytes, no alert.
for i in 1 2 3; do
  "$MV" get --user "$TMP/alvarez" "$(echo "$RIDS" | cut -d, -f$i)" -o "$TMP/n$i.json"
  "$MV" canon "$TMP/rx$i.json" | cmp -s - "$TMP/n$i.json" || fail "the doctor's record $i is not the original"
done
"$MV" get --user "$TMP/dana" "$RID" -o "$TMP/nd.json"
cmp -s "$TMP/nd.json" "$TMP/n1.json" || fail "the patient read other bytes"
alerts_json
ALV=$(key_of "$TMP/alvarez")
[ "$(json_get "$TMP/alerts.json" "sum(a['principal']=='$ALV' for a in d['alerts'])")" -eq 0 ] || fail "normal reads raised an alert"
pass "a doctor and the patient reading their delegated records at normal volume get real bytes and raise no alert"

# 7. Burst by a valid doctor: step-up demanded, then decoys, then real data with a device grant.
$PROBE "$URL" GET "/v1/records/$BID" --user "$TMP/bauer" --out "$TMP/breal.json" --body-out "$TMP/breal.bin" > /dev/null
$PROBE "$URL" GET "/v1/records/$BID" --user "$TMP/bauer" --repeat "$FLOOR" --out "$TMP/b1.json" > /dev/null
[ "$(json_get "$TMP/b1.json" 'd["statuses"][:-1] == [200]*(len(d["statuses"])-1)')" = True ] || fail "reads under the floor were refused"
[ "$(json_get "$TMP/b1.json" 'd["status"]')" -eq 401 ] || fail "the read over the floor should demand step-up: $(cat "$TMP/b1.json")"
[ "$(json_get "$TMP/b1.json" 'd["header_values"].get("MV-Step-Up")')" = required ] || fail "no MV-Step-Up: required header"
[ "$(alert_rows decoy_served 'step-up not completed')" -eq 0 ] || fail "the step-up demand itself raised an alert"
$PROBE "$URL" GET "/v1/records/$BID" --user "$TMP/bauer" --out "$TMP/b2.json" --body-out "$TMP/b2.bin" > /dev/null
cp "$TMP/breal.json" "$TMP/real.json"
same_shape "$TMP/b2.json" "burst without step-up"
expect_one_alert decoy_served "step-up not completed" "burst without step-up"
# Decoy mode covers every endpoint: the listing is the decoy cloud's too (no new alert).
$PROBE "$URL" GET /v1/records --user "$TMP/bauer" --out "$TMP/bl.json" --body-out "$TMP/bl.bin" > /dev/null
[ "$(json_get "$TMP/bl.json" 'd["status"]')" -eq 200 ] || fail "decoy-mode listing failed: $(cat "$TMP/bl.json")"
# ... and the re-encryption proxy's routes on the primary answer as a proxy holding nothing for her.
$PROBE "$URL" GET /v1/pre/delegations --user "$TMP/bauer" --out "$TMP/bp.json" --body-out "$TMP/bp.bin" > /dev/null
[ "$(json_get "$TMP/bp.json" 'd["status"]')" -eq 404 ] || fail "decoy mode still reaches the proxy: $(cat "$TMP/bp.json")"
grep -q "no such delegation" "$TMP/bp.bin" || fail "decoy-mode proxy answer: $(cat "$TMP/bp.bin")"
"$MV" keygen --out "$TMP/bauer-phone" > /dev/null
"$MV" user device add "$(key_of "$TMP/bauer")" --device-key "$TMP/bauer-phone" --user "$ADMIN" > /dev/null
"$MV" stepup --device-key "$TMP/bauer-phone" --user "$TMP/bauer" > /dev/null
"$MV" get --user "$TMP/bauer" "$BID" -o "$TMP/b3.json" || fail "a doctor who passed step-up was refused"
"$MV" canon "$TMP/note.json" | cmp -s - "$TMP/b3.json" || fail "after step-up the doctor got other bytes than the original"
$PROBE "$URL" GET "/v1/records/$BID" --user "$TMP/bauer" --grant "$TMP/bauer/stepup.grant" --out "$TMP/b4.json" > /dev/null
[ "$(json_get "$TMP/b4.json" 'd["body_sha256"]')" = "$(json_get "$TMP/breal.json" 'd["body_sha256"]')" ] || fail "with a grant the raw answer is not the real envelope"
pass "burst: 401 step-up required (no alert), then decoys (one alert), then real bytes after a device step-up"

# 8. Exactly one alert row per scenario, nothing else from the primary.
alerts_json
[ "$(json_get "$TMP/alerts.json" "len([a for a in d['alerts'] if a['source']=='storage'])")" -eq 6 ] ||
  { cat "$TMP/alerts.json" >&2; fail "expected six alert rows from the primary"; }
grep -q "Atorvastatin\|Heart rate\|$MARKER" "$TMP/alerts.json" && fail "an alert carries record content"
# The webhook got each of them exactly once (the hospital delivers in the background).
hooks() { python3 - "$TMP/sink.out" <<'PY'
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ids = [r["id"] for r in rows]
assert len(ids) == len(set(ids)), "an alert was delivered twice"
c = collections.Counter((r["kind"], r["reason"]) for r in rows if r["source"] == "storage")
print(json.dumps(sorted("%s/%s=%d" % (k[0], k[1], n) for k, n in c.items())))
PY
}
WANT='["decoy_served/expired credential=1", "decoy_served/forged credential=1", "decoy_served/revoked credential=1", "decoy_served/step-up not completed=1", "decoy_served/unauthenticated=1", "honeytoken/honeytoken read=1"]'
hooks_are() { [ "$(hooks)" = "$1" ]; }
wait_for 10 hooks_are "$WANT" || true
[ "$(hooks)" = "$WANT" ] || fail "the webhook should get one POST per scenario: $(hooks)"
grep -q "Atorvastatin\|Heart rate\|$MARKER" "$TMP/sink.out" && fail "a webhook POST carries record content"
pass "six scenarios, six alert rows, each delivered once to the webhook; no record content in alerts"

# The unsigned listing with a victim's key (finding 1 of issue 11): invented records only,
# the same on every call, each readable with the metadata the listing shows.
for i in 1 2; do curl -s -H "MV-Key: $ALV" "$URL/v1/records" > "$TMP/vl$i.json"; done
cmp -s "$TMP/vl1.json" "$TMP/vl2.json" || fail "two unsigned listings differ"
python3 - "$TMP/vl1.json" "$RIDS,$BID" "$ALV" "$(key_of "$TMP/dana")" <<'PY' || fail "the unsigned listing shows real records or metadata"
import json, sys
d = json.load(open(sys.argv[1]))
real, alv, dana = set(sys.argv[2].split(",")), sys.argv[3], sys.argv[4]
ids = [r["id"] for r in d["records"]]
assert len(ids) >= 12, "a listing of %d records" % len(ids)
assert not real & set(ids), "a real record id is listed"
for r in d["records"]:
    assert alv not in (r["owner"], r["patient"]) and dana not in (r["owner"], r["patient"]), "a real key is listed"
    if r["blocks"] == 0:  # a keyset (MVK1, 5 + 112 bytes per reader), as real listings hold them
        assert r["logical_bytes"] == r["envelope_bytes"] and (r["envelope_bytes"] - 5) % 112 == 0, "a keyset's size"
    else:
        assert r["logical_bytes"] > r["envelope_bytes"] > 0, "sizes no real listing has"
    # Time-ordered ids, as the primary's: the id's first 6 bytes are its creation in ms.
    assert int(r["id"][:12], 16) // 1000 == r["created"], "an id whose time is not its creation"
# The primary's order (creation time, then id): the decoy listing is written by the same code.
assert [(r["created"], r["id"]) for r in d["records"]] == sorted((r["created"], r["id"]) for r in d["records"])
PY
SID=$(json_get "$TMP/vl1.json" 'd["records"][-1]["id"]')
SOWN=$(json_get "$TMP/vl1.json" 'd["records"][-1]["owner"]')
$PROBE "$URL" GET "/v1/records/$SID" --out "$TMP/sid.json" > /dev/null
[ "$(json_get "$TMP/sid.json" 'd["status"]')" -eq 200 ] || fail "an invented record of the listing does not read: $(cat "$TMP/sid.json")"
[ "$(json_get "$TMP/sid.json" 'd["header_values"]["MV-Record-Owner"]')" = "$SOWN" ] || fail "the invented record's owner differs from its listing"
[ "$(json_get "$TMP/sid.json" 'd["body_len"]')" -eq "$(json_get "$TMP/vl1.json" 'd["records"][-1]["envelope_bytes"]')" ] ||
  fail "the invented record's size differs from its listing"
curl -s -H "MV-Key: $(key_of "$TMP/bauer")" "$URL/v1/records" > "$TMP/vl3.json"
cmp -s "$TMP/vl1.json" "$TMP/vl3.json" && fail "listings claimed for two keys are the same"
curl -s "$URL/v1/records/$RID/readers" > "$TMP/vr.json"
python3 - "$TMP/vr.json" "$ALV" "$(key_of "$TMP/dana")" <<'PY' || fail "the unsigned readers list shows real keys"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["readers"] and d["readers"][0] == d["owner"], "the readers list does not start with the owner"
assert not {sys.argv[2], sys.argv[3]} & set(d["readers"] + [d["owner"], d["patient"]]), "a real key"
PY
pass "unsigned listing claiming a doctor's key: invented records only (none real), stable, each readable as listed; readers invented too"

# 9. Stolen keys: a thief copies a doctor's user directory (not the device key kept apart),
# reads in a burst, fails the step-up and reads on: decoys that open with the stolen keys and
# decode to plausible FHIR that is not the doctor's record.
"$MV" keygen --out "$TMP/chen-phone" > /dev/null
"$MV" user device add "$(key_of "$TMP/chen")" --device-key "$TMP/chen-phone" --user "$ADMIN" > /dev/null
"$MV" put --user "$TMP/chen" --json "$TMP/note.json" > "$TMP/wc.json"
CID=$(json_get "$TMP/wc.json" 'd["records"][0]["id"]')
cp -a "$TMP/chen" "$TMP/thief"
$PROBE "$URL" GET "/v1/records/$CID" --user "$TMP/thief" --repeat "$FLOOR" --out "$TMP/t1.json" > /dev/null
[ "$(json_get "$TMP/t1.json" 'd["status"]')" -eq 200 ] || fail "the thief's reads up to the floor should be served"
"$MV" get --user "$TMP/thief" "$CID" -o "$TMP/t2.json" 2> "$TMP/t2.err" && fail "the client read on while a step-up is pending"
grep -qi "step-up" "$TMP/t2.err" || fail "the client should say a step-up is required: $(cat "$TMP/t2.err")"
"$MV" keygen --out "$TMP/thief-phone" > /dev/null
"$MV" stepup --device-key "$TMP/thief-phone" --user "$TMP/thief" > /dev/null 2>&1 && fail "a step-up with an unregistered device passed"
rm -f "$TMP/thief/stepup.pending" # the thief's own tooling ignores the client's refusal
"$MV" get --user "$TMP/thief" "$CID" -o "$TMP/t3.json" || fail "the thief's decoy did not open with the stolen keys"
python3 - "$TMP/t3.json" "$MARKER" <<'PY' || fail "the decoy is not plausible fake FHIR"
import json, sys
d = json.load(open(sys.argv[1]))
known = {"MedicationRequest", "Observation", "Condition", "DiagnosticReport", "Encounter", "Bundle", "Patient"}
assert d.get("resourceType") in known, d.get("resourceType")
assert sys.argv[2] not in open(sys.argv[1]).read(), "the decoy holds real content"
PY
"$MV" canon "$TMP/note.json" | cmp -s - "$TMP/t3.json" && fail "the thief got the real record"
alerts_json
CHEN=$(key_of "$TMP/chen")
[ "$(json_get "$TMP/alerts.json" "sum(a['kind']=='stepup_failed' and a['principal']=='$CHEN' for a in d['alerts'])")" -eq 1 ] \
  || fail "the failed step-up should raise one alert: $(cat "$TMP/alerts.json")"
thief_alerted() {
  alerts_json
  [ "$(json_get "$TMP/alerts.json" "sum(a['kind']=='decoy_served' and a['principal']=='$CHEN' and a['reason']=='step-up not completed' for a in d['alerts'])")" -eq 1 ]
}
wait_for 5 thief_alerted || true
[ "$(json_get "$TMP/alerts.json" "sum(a['kind']=='decoy_served' and a['principal']=='$CHEN' and a['reason']=='step-up not completed' for a in d['alerts'])")" -eq 1 ] \
  || fail "the thief's decoys should raise one alert"
pass "stolen keys + failed step-up: the decoy opens with the stolen keys as plausible fake FHIR ($(json_get "$TMP/t3.json" 'd["resourceType"]')); step-up failure and decoys each alerted once"

# 10. No service directory holds record plaintext (the real records carry a marker).
for d in "$TMP/mv/hospital" "$TMP/primary" "$TMP/decoy" "$TMP/mv/storage" "$TMP/mv/decoy" "$TMP"/mv/ks*; do
  [ -d "$d" ] || fail "missing service directory $d"
  grep -r -l -a "$MARKER" "$d" && fail "record plaintext found under $d"
done
pass "the hospital's, the primary's and the decoy cloud's directories hold no record plaintext"

# Latency of real and decoy answers (reported, not asserted).
$PROBE "$URL" GET "/v1/records/$RID" --user "$TMP/dana" --repeat 25 --out "$TMP/tr.json" > /dev/null
$PROBE "$URL" GET "/v1/records/$RID" --repeat 25 --out "$TMP/td.json" > /dev/null
echo "# latency ms (median / p90): real $(json_get "$TMP/tr.json" '"%.2f / %.2f" % (d["ms_median"], d["ms_p90"])'), decoy $(json_get "$TMP/td.json" '"%.2f / %.2f" % (d["ms_median"], d["ms_p90"])')"

# The decoy cloud down: suspicious requests get the plain 401, never an error naming decoys.
kill -TERM "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null || true
$PROBE "$URL" GET "/v1/records/$RID" --out "$TMP/dn.json" --body-out "$TMP/dn.bin" > /dev/null
[ "$(json_get "$TMP/dn.json" 'd["status"]')" -eq 401 ] || fail "with the decoy cloud down an unauthenticated read should get 401"
grep -qi decoy "$TMP/dn.bin" && fail "the 401 mentions decoys"
pass "decoy cloud down: plain 401 without a word about decoys"

# The primary stops cleanly (under the sanitizer build, a leak or error fails here).
stop_pid "${PIDS[3]}"
grep -q "ERROR: \(Address\|Leak\)Sanitizer" "$TMP/primary.log" && fail "sanitizer report in the primary's log"
pass "the guarded primary stops cleanly"
