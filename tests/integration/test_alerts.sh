#!/usr/bin/env bash
# The hospital's alert pipeline and step-up through real processes (`medvault up` with a
# webhook pointing at mv_webhook_sink): a forged and a revoked credential at the hospital each
# raise exactly one webhook POST however often they are repeated (the count grows instead); a
# storage-role service reports an alert that is delivered once, a doctor may not report; step-up
# by a registered device key gives a grant, a wrong device key is refused with one alert; admin
# approval gives a grant, a denial raises an alert; with the webhook down an alert waits and is
# delivered exactly once when it comes back.
source "$(dirname "$0")/lib.sh"
SINK=${MV_WEBHOOK_SINK_BIN:?MV_WEBHOOK_SINK_BIN must point at mv_webhook_sink}

OUT=$TMP/webhook.jsonl
: > "$OUT"
"$SINK" "$TMP/sink.port" "$OUT" & SINKPID=$!; PIDS+=("$SINKPID")
wait_for 10 nonempty "$TMP/sink.port" || fail "the webhook receiver did not start"
SPORT=$(cat "$TMP/sink.port")
mkdir -p -m 700 "$TMP/mv/hospital"
printf 'webhook_url = http://127.0.0.1:%s\nalert_window_seconds = 600\n' "$SPORT" > "$TMP/mv/hospital/hospital.conf"

"$MV" up --dir "$TMP/mv" > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!; PIDS+=("$UP")
wait_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
HURL=$(json_get "$MEDVAULT_DEPLOYMENT" 'd["hospital_url"]')
key_of() { json_get "$1/public.json" 'd["sign_public_key"]'; }
add() { "$MV" user add --user "$ADMIN" --name "$1" --role "$2" --department cardiology --out "$TMP/$1" > /dev/null; }
add alvarez doctor; add bauer doctor; add chen doctor; add carol doctor
ALVAREZ=$(key_of "$TMP/alvarez")
lines() { wc -l < "$OUT" | tr -d ' '; }
lines_at_least() { [ "$(lines)" -ge "$1" ]; }
# wait_lines N : the sink holds N lines within 20 s
wait_lines() { wait_for 20 lines_at_least "$1" || true; [ "$(lines)" -eq "$1" ]; }
alerts_json() { "$MV" alerts --user "$ADMIN" --json > "$TMP/alerts.json"; }
# count_of KIND REASON : the count of the (single) alert row with that kind and reason
count_of() { alerts_json; json_get "$TMP/alerts.json" "[a['count'] for a in d['alerts'] if a['kind']=='$1' and a['reason']=='$2']"; }
pass "medvault up with a webhook at port $SPORT"

# A forged credential (signed by another "hospital"), three times.
"$MV" hospital init --dir "$TMP/evil" --json > /dev/null
"$MV" keygen --out "$TMP/forged" > "$TMP/forged.pub.json"
"$MV" credential issue --hospital-dir "$TMP/evil" --subject "$(key_of "$TMP/forged")" --role doctor \
  --department cardiology --out "$TMP/forged/credential" > /dev/null
# Pinned to the genuine hospital (a stolen directory with a swapped credential): unpinned, the
# client itself refuses a credential the deployment's hospital did not sign, and sends nothing.
cp "$ADMIN/hospital.pin" "$TMP/forged/"
for _ in 1 2 3; do "$MV" appointment list --user "$TMP/forged" > /dev/null 2>&1 && fail "a forged credential was served"; done
wait_lines 1 || fail "a forged credential should give exactly one webhook POST, got $(lines)"
json_get - 'd["kind"]=="credential_misuse" and d["reason"]=="forged credential or signature" and d["source"]=="hospital"' < <(sed -n 1p "$OUT") \
  | grep -qx True || fail "unexpected first webhook body: $(sed -n 1p "$OUT")"
[ "$(count_of credential_misuse 'forged credential or signature')" = "[3]" ] || fail "three forged requests should count 3: $(cat "$TMP/alerts.json")"
pass "forged credential: one webhook POST, count 3"

# The admin's genuine credential (credentials travel to every service) with a signature that is
# not hers, 30 times, each claiming her key: the alert names nobody, joins the forged row, and
# the address's alert budget (10) caps it (issue 11: claimed keys are anybody's).
ADM=$(key_of "$ADMIN")
for _ in $(seq 30); do
  "$MV_SIGN_BIN" --user "$ADMIN" --target "$HURL" --forge sig GET /v1/alerts > "$TMP/fh"
  args=(); while IFS= read -r line; do args+=(-H "$line"); done < "$TMP/fh"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "$HURL/v1/alerts")" = 401 ] || fail "a forged signature was not refused"
done
alerts_json
[ "$(json_get "$TMP/alerts.json" "sum(a['principal']=='$ADM' for a in d['alerts'])")" = 0 ] || fail "an alert names the admin, whose key did not sign"
[ "$(count_of credential_misuse 'forged credential or signature')" = "[10]" ] || fail "the forged row should stop at the address's budget of 10: $(count_of credential_misuse 'forged credential or signature')"
pass "a forged signature under the admin's credential: no alert names her; 30 such requests count 10 (per-address budget)"

# A revoked user's (still unexpired) credential, twice.
"$MV" user status "$(key_of "$TMP/carol")" revoked --user "$ADMIN" > /dev/null
for _ in 1 2; do "$MV" appointment list --user "$TMP/carol" > /dev/null 2>&1 && fail "a revoked user was served"; done
wait_lines 2 || fail "a revoked credential should add exactly one webhook POST, got $(lines)"
[ "$(count_of credential_misuse 'revoked credential')" = "[2]" ] || fail "revoked: count should be 2: $(cat "$TMP/alerts.json")"
pass "revoked credential: one webhook POST, count 2"

# A storage server's report (speaking for its decoy role) lands and is delivered once; a
# doctor may not report.
"$MV" keygen --out "$TMP/svc" > "$TMP/svc.pub.json"
"$MV" credential issue --hospital-dir "$TMP/mv/hospital" --subject "$(key_of "$TMP/svc")" --role storage --out "$TMP/svc/credential" > /dev/null
report() { "$MV" alerts report --identity "$1" --hospital-url "$HURL" --kind "$2" --reason "$3" --address 10.1.2.3 --object 00112233445566778899aabbccddeeff "${@:4}"; }
report "$TMP/svc" decoy_served unauthenticated --source decoy > /dev/null || fail "a storage-role service could not report"
report "$TMP/svc" decoy_served unauthenticated --source decoy > /dev/null
wait_lines 3 || fail "a service report should give exactly one webhook POST, got $(lines)"
json_get - 'd["source"]=="decoy" and d["kind"]=="decoy_served" and d["address"]=="10.1.2.3"' < <(sed -n 3p "$OUT") | grep -qx True \
  || fail "unexpected service alert: $(sed -n 3p "$OUT")"
[ "$(count_of decoy_served unauthenticated)" = "[2]" ] || fail "two reports should count 2"
report "$TMP/alvarez" honeytoken "honeytoken read" 2> "$TMP/doc.err" && fail "a doctor reported an alert"
grep -q 403 "$TMP/doc.err" || fail "a doctor's report should be refused with 403: $(cat "$TMP/doc.err")"
pass "service report: delivered once (source decoy), repeats counted; a doctor is refused (403)"

# Step-up with a registered device key; a wrong device key is refused and raises one alert.
"$MV" keygen --out "$TMP/dev1" > /dev/null
"$MV" keygen --out "$TMP/dev2" > /dev/null
"$MV" user device add "$ALVAREZ" --device-key "$TMP/dev1" --name phone --user "$ADMIN" > /dev/null
"$MV" user device list "$ALVAREZ" --user "$ADMIN" --json | grep -q "$(key_of "$TMP/dev1")" || fail "the device is not listed"
"$MV" user device add "$ALVAREZ" --device-key "$TMP/dev1" --user "$TMP/bauer" 2>/dev/null && fail "a doctor registered a device"
"$MV" stepup --device-key "$TMP/dev1" --user "$TMP/alvarez" --json > "$TMP/su.json" || fail "step-up with the device key failed"
[ "$(json_get "$TMP/su.json" 'd["status"]')" = approved ] || fail "device step-up not approved"
printf '{"status":"approved","expires":%s}\n' "$(json_get "$TMP/su.json" 'd["expires"]')" | cmp -s - "$TMP/su.json" \
  || fail "stepup --json: the bytes differ from the pinned format: $(cat "$TMP/su.json")"
python3 - "$TMP/alvarez/stepup.grant" "$ALVAREZ" <<'PY' || fail "the stored grant is not an MVS1 grant for alvarez"
import base64, sys
g = base64.b64decode(open(sys.argv[1]).read().strip())
assert len(g) == 117 and g[:4] == b"MVS1" and g[4:36].hex() == sys.argv[2] and g[52] == 1
PY
"$MV" stepup --device-key "$TMP/dev2" --user "$TMP/alvarez" 2> "$TMP/su2.err" && fail "an unregistered device key stepped up"
grep -q 403 "$TMP/su2.err" || fail "a wrong device key should be refused with 403: $(cat "$TMP/su2.err")"
wait_lines 4 || fail "a failed step-up should give one webhook POST, got $(lines)"
json_get - 'd["kind"]=="stepup_failed" and d["principal"]=="'"$ALVAREZ"'"' < <(sed -n 4p "$OUT") | grep -qx True \
  || fail "unexpected step-up alert: $(sed -n 4p "$OUT")"
pass "step-up by device key: a verifying grant; a wrong device key: 403 and one stepup_failed alert"

# Admin approval; and a denial raises an alert.
"$MV" stepup --request --user "$TMP/bauer" --json > "$TMP/req.json"
RID=$(json_get "$TMP/req.json" 'd["request"]')
[ "$(json_get "$TMP/req.json" 'd["status"]')" = pending ] || fail "a step-up request should be pending"
printf '{"status":"pending","request":%s}\n' "$RID" | cmp -s - "$TMP/req.json" \
  || fail "stepup --request --json: the bytes differ from the pinned format: $(cat "$TMP/req.json")"
"$MV" stepup --request --wait --user "$TMP/bauer" --json > "$TMP/wait.json" 2>/dev/null & WAITER=$!
# The waiter must have joined the pending request before it is decided (else it would open a
# new one): its first poll of it is the second in the hospital's audit log (the first was ours).
polls_of() { grep -c "\"action\":\"GET /v1/stepup/$1\"" "$TMP/mv/hospital/audit/audit.log" || true; }
polled_twice() { [ "$(polls_of "$1")" -ge 2 ]; }
wait_for 10 polled_twice "$RID" || fail "the waiting client never polled request $RID"
"$MV" stepup approve "$RID" --user "$TMP/alvarez" 2>/dev/null && fail "a doctor approved a step-up"
"$MV" stepup approve "$RID" --user "$ADMIN" > /dev/null || fail "the admin could not approve"
wait "$WAITER" || fail "the waiting client did not get its grant"
[ "$(json_get "$TMP/wait.json" 'd["status"]')" = approved ] && [ -s "$TMP/bauer/stepup.grant" ] || fail "admin approval gave no grant"
"$MV" stepup --request --user "$TMP/chen" --json > "$TMP/req2.json"
"$MV" stepup deny "$(json_get "$TMP/req2.json" 'd["request"]')" --user "$ADMIN" > /dev/null
wait_lines 5 || fail "a denial should give one webhook POST, got $(lines)"
json_get - 'd["kind"]=="stepup_failed" and d["reason"]=="denied by admin"' < <(sed -n 5p "$OUT") | grep -qx True \
  || fail "unexpected denial alert: $(sed -n 5p "$OUT")"
pass "step-up by admin approval gives a grant; a denial raises stepup_failed"

# The dashboard's alerts page: counts, delivery, and a pending request approved with its form
# (CSRF token required).
"$MV" stepup --request --user "$TMP/chen" --json > "$TMP/req3.json"
RID3=$(json_get "$TMP/req3.json" 'd["request"]')
"$MV" stepup --request --wait --user "$TMP/chen" --json > "$TMP/wait3.json" 2>/dev/null & WAITER3=$!
"$MV" dashboard --user "$ADMIN" --json > "$TMP/dash.json"
printf '{"url":"%s"}\n' "$(json_get "$TMP/dash.json" 'd["url"]')" | cmp -s - "$TMP/dash.json" \
  || fail "dashboard --json: the bytes differ from the pinned format: $(cat "$TMP/dash.json")"
curl -s -o /dev/null -c "$TMP/jar" "$(json_get "$TMP/dash.json" 'd["url"]')"
curl -s -b "$TMP/jar" -o "$TMP/alerts.html" "$HURL/admin/alerts"
grep -q "<th>Count</th>" "$TMP/alerts.html" && grep -q '<th>Delivered</th>' "$TMP/alerts.html" || fail "alerts page lacks count/delivered"
grep -q "name=\"request\" value=\"$RID3\"" "$TMP/alerts.html" || fail "the pending step-up request is not listed"
CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/alerts.html" | head -1)
[ "$(curl -s -b "$TMP/jar" -o /dev/null -w '%{http_code}' --data "csrf=00&request=$RID3&decision=approve" "$HURL/admin/alerts")" = 403 ] \
  || fail "a step-up decision without the CSRF token was accepted"
[ "$(curl -s -b "$TMP/jar" -o /dev/null -w '%{http_code}' --data "csrf=$CSRF&request=$RID3&decision=approve" "$HURL/admin/alerts")" = 303 ] \
  || fail "the dashboard could not approve"
wait "$WAITER3" || fail "the dashboard's approval gave no grant"
[ -s "$TMP/chen/stepup.grant" ] || fail "no grant stored after the dashboard's approval"
pass "dashboard alerts page: count and delivered columns; a pending step-up approved with its CSRF form"

# The webhook goes down: a new alert waits (undelivered), and is delivered exactly once when
# the webhook comes back on the same port.
stop_pid "$SINKPID"
failures() { metric "$HURL" "$TMP/mv/hospital" medvault_hospital_webhook_failures_total; }
failed_since() { [ "$(failures)" -gt "$1" ]; }
FAILED=$(failures)
report "$TMP/svc" honeytoken "honeytoken read" > /dev/null
wait_for 10 failed_since "$FAILED" || fail "the hospital never tried the webhook while it was down"
[ "$(json_get <(alerts_json; cat "$TMP/alerts.json") "[a['delivered'] for a in d['alerts'] if a['kind']=='honeytoken']")" = "[False]" ] \
  || fail "an alert was marked delivered while the webhook was down"
"$SINK" "$TMP/sink.port" "$OUT" "$SPORT" & SINKPID=$!; PIDS+=("$SINKPID")
wait_for 40 lines_at_least 6 || true
# Once every alert is marked delivered nothing is left to send: a seventh line would be a
# second delivery.
all_delivered() { alerts_json; [ "$(json_get "$TMP/alerts.json" "all(a['delivered'] for a in d['alerts'])")" = True ]; }
wait_for 10 all_delivered || true
[ "$(lines)" -eq 6 ] || fail "after the webhook came back it should hold 6 POSTs, got $(lines)"
json_get - 'd["kind"]=="honeytoken"' < <(sed -n 6p "$OUT") | grep -qx True || fail "the waiting alert was not delivered"
[ "$(count_of honeytoken 'honeytoken read')" = "[1]" ] && [ "$(json_get "$TMP/alerts.json" "all(a['delivered'] for a in d['alerts'])")" = True ] \
  || fail "every alert should now be delivered"
[ "$(python3 -c 'import json,sys; ids=[json.loads(l)["id"] for l in open(sys.argv[1])]; print(len(ids)==len(set(ids)))' "$OUT")" = True ] \
  || fail "an alert was delivered twice"
grep -qi '"object":"[^"]*record content' "$OUT" && fail "record content in an alert"
pass "webhook down then up: the waiting alert is delivered exactly once; no alert delivered twice"

stop_pid "$UP"
pass "medvault up stops cleanly"
