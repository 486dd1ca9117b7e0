#!/usr/bin/env bash
# `medvault ui` through real processes (`medvault up`, curl with a cookie jar): loopback only,
# the login token and session cookie, CSRF on forms, security headers, Host check; a doctor
# without a delegation is refused, a patient signs one in the UI, the doctor prescribes from
# the formulary and writes a treatment order, both see the decrypted record; the patient
# grants and revokes a second doctor per record and per episode, and delegates the episode to
# him through the two clouds and revokes; appointment status changes;
# every value escaped; logout.
source "$(dirname "$0")/lib.sh"

start_up
DEP=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
export MEDVAULT_DEPLOYMENT=$DEP
admin() { "$MV" "$@" --user "$ADMIN" --json; }
add() { "$MV" user add --deployment "$DEP" --user "$ADMIN" --name "$1" --role "$2" ${3:+--department "$3"} --out "$TMP/$1" > /dev/null; }
key() { json_get "$TMP/$1/public.json" 'd["sign_public_key"]'; }
add drone doctor cardiology; add drtwo doctor cardiology; add pat patient
DR1=$(key drone); DR2=$(key drtwo); PK=$(key pat)
MRN=$(admin user show "$PK" | json_get - 'd["mrn"]')
[[ "$MRN" == MRN-* ]] || fail "the patient got no MRN ($MRN)"
admin medicine add --name Amoxicillin --form capsule --strength "500 mg" \
  --dosage "1 capsule three times daily for 7 days" --code AMOX500 > "$TMP/med.json"
MED=$(json_get "$TMP/med.json" 'd["id"]')
admin appointment book --patient "$MRN" --department cardiology --doctor "$DR1" --at $(($(date +%s) + 3600)) \
  --place "Room 3" --reason "<b>chest</b> pain" > "$TMP/appt.json"
APPT=$(json_get "$TMP/appt.json" 'd["id"]')
[ "$(json_get "$TMP/appt.json" 'd["status"]')" = booked ] || fail "the appointment was not booked"
pass "users, formulary entry $MED and a booked appointment for $MRN"

"$MV" ui --deployment "$DEP" --user "$TMP/pat" --listen 0.0.0.0:0 > /dev/null 2>&1 && fail "the UI listened on a non-loopback address"
"$MV" ui --deployment "$DEP" --user "$TMP/pat" --listen 10.0.0.1:0 > /dev/null 2>&1 && fail "the UI listened on 10.0.0.1"
"$MV" ui --help | grep -q -- '--listen' || fail "ui --help"
pass "the UI refuses non-loopback addresses"

# ui NAME : starts the UI of user NAME; sets URL[NAME] (the login URL) and BASE[NAME].
declare -A URL BASE UIPID
ui() {
  "$MV" ui --deployment "$DEP" --user "$TMP/$1" --port-file "$TMP/$1.port" > "$TMP/$1.ui.out" 2> "$TMP/$1.ui.err" &
  UIPID[$1]=$!
  PIDS+=("${UIPID[$1]}")
  wait_for 10 file_has "$TMP/$1.ui.out" '^medvault ui: open ' || true
  URL[$1]=$(sed -n 's/^medvault ui: open //p' "$TMP/$1.ui.out")
  [ -n "${URL[$1]}" ] || { cat "$TMP/$1.ui.err" >&2; fail "the UI of $1 printed no URL"; }
  BASE[$1]=${URL[$1]%%/login*}
  [ "${BASE[$1]}" = "http://127.0.0.1:$(cat "$TMP/$1.port")" ] || fail "port file and printed URL disagree"
}
# get NAME PATH : the page body into $TMP/page, prints the status.
get() { curl -s -b "$TMP/$1.jar" -o "$TMP/page" -w '%{http_code}' "${BASE[$1]}$2"; }
csrf() { grep -o 'name="csrf" value="[0-9a-f]*"' "$TMP/page" | head -1 | sed 's/.*value="//; s/"//'; }
# post NAME PATH [curl data args...] : a form with the CSRF token of the last page of NAME,
# following the redirect; the final page in $TMP/page, its URL printed.
post() {
  local who=$1 path=$2; shift 2
  get "$who" / > /dev/null
  local tok; tok=$(csrf)
  curl -s -L -b "$TMP/$who.jar" -o "$TMP/page" -w '%{url_effective}' --data-urlencode "csrf=$tok" "$@" \
    "${BASE[$who]}$path"
}
has() { grep -q -- "$1" "$TMP/page" || { sed 's/<style>.*<\/style>//' "$TMP/page" >&2; fail "$2"; }; }

ui drone; ui pat
B=${BASE[drone]}
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/")" = 303 ] || fail "a page without the cookie was served"
curl -s -D "$TMP/h" -o /dev/null "$B/records"
grep -qi '^location: /login' "$TMP/h" || fail "no redirect to /login"
curl -s -o "$TMP/page" "$B/login"
has 'printed when it started' "the login page does not explain the printed URL"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$B/login?token=$(printf 'a%.0s' $(seq 64))")" = 403 ] || fail "a wrong token was accepted"
curl -s -D "$TMP/h" -o /dev/null -c "$TMP/drone.jar" "${URL[drone]}"
sed -i 's/\r$//' "$TMP/h"
grep -qi '^set-cookie: mv_ui_[0-9]*=[0-9a-f]\{64\}; HttpOnly; SameSite=Strict; Path=/' "$TMP/h" || fail "no HttpOnly SameSite=Strict cookie"
grep -qi '^location: /$' "$TMP/h" || fail "login does not redirect to /"
[ "$(curl -s -o /dev/null -w '%{http_code}' -c "$TMP/again.jar" "${URL[drone]}")" = 303 ] || fail "the login URL works only once"
for h in "content-security-policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'" \
         "x-content-type-options: nosniff" "referrer-policy: no-referrer"; do
  grep -qi "^$h" "$TMP/h" || fail "missing header: $h"
done
[ "$(get drone /)" = 200 ] || fail "home page with the cookie"
has 'drone' "home page: no name"; has 'cardiology' "home page: no department"; has "${DR1:0:16}" "home page: no key prefix"
[ "$(curl -s -o /dev/null -w '%{http_code}' -b "$TMP/drone.jar" -H 'Host: attacker.example' "$B/")" = 421 ] || fail "a foreign Host header was served"
[ "$(curl -s -o /dev/null -w '%{http_code}' -b "$TMP/drone.jar" --data 'status=checked_in' "$B/appointments/$APPT/status")" = 403 ] \
  || fail "a POST without the CSRF token was accepted"
curl -s -o /dev/null -c "$TMP/pat.jar" "${URL[pat]}"
pass "login token, HttpOnly/SameSite cookie, redirects, CSP/nosniff/no-referrer, Host check, CSRF"

[ "$(get drone /appointments)" = 200 ] || fail "doctor appointments page"
has "$APPT" "the doctor does not see the appointment"; has '&lt;b&gt;chest&lt;/b&gt; pain' "the reason is not escaped"
grep -q '<b>chest' "$TMP/page" && fail "unescaped markup from the registry"
get drone "/prescribe?appointment=$APPT&medicine=$MED" > /dev/null
has 'value="1 capsule three times daily for 7 days"' "the usual dosage is not prefilled"
has "$MRN" "the patient's MRN is not prefilled"
post drone /prescribe --data-urlencode "appointment=$APPT" --data-urlencode "mrn=$MRN" --data-urlencode "medicine=$MED" \
  --data-urlencode "dosage=2 capsules twice daily" --data-urlencode "quantity=28" > /dev/null
has 'no delegation' "without a delegation the prescription was not refused with the reason"
pass "without the patient's delegation the prescription is refused: $(grep -o 'no delegation[^<]*' "$TMP/page" | head -1)"

[ "$(get pat /appointments)" = 200 ] || fail "patient appointments page"
has "/appointments/$APPT/delegate" "the patient is not offered a delegation"
post pat "/appointments/$APPT/delegate" > /dev/null
has 'may now write records' "the delegation was not accepted"
has 'Your delegations' "no delegations section"
pass "the patient signed a delegation in the UI and the hospital countersigned it"

U=$(post drone /prescribe --data-urlencode "appointment=$APPT" --data-urlencode "mrn=$MRN" --data-urlencode "medicine=$MED" \
  --data-urlencode "dosage=2 capsules twice daily <i>with food</i>" --data-urlencode "quantity=28")
RID=${U##*/records/}
[[ "$RID" =~ ^[0-9a-f]{32}$ ]] || { sed 's/<style>.*<\/style>//' "$TMP/page" >&2; fail "no record page after prescribing ($U)"; }
has 'Stored as record' "no confirmation"; has 'Amoxicillin 500 mg capsule' "the doctor does not see the medication"
has '2 capsules twice daily &lt;i&gt;with food&lt;/i&gt;' "dosage not shown escaped"
has "Patient/$MRN" "no subject"; has "Encounter/$APPT" "no encounter"; has 'AMOX500' "no formulary code"
has "Practitioner/${DR1:0:16}" "no requester"; has '&quot;intent&quot;: &quot;order&quot;' "no pretty-printed JSON"
ls -a "$TMP/drone" | grep -q '^\.ui-' && fail "the temporary record file was left in the user directory"
"$MV" get --deployment "$DEP" --user "$TMP/pat" "$RID" -o "$TMP/rx.json" || fail "the patient cannot get the prescription"
json_get "$TMP/rx.json" 'd["dispenseRequest"]["quantity"]["value"]' | grep -qx 28 || fail "quantity"
pass "the doctor prescribed from the formulary (record $RID) and sees it decrypted"

U=$(post drone /orders --data-urlencode "appointment=$APPT" --data-urlencode "mrn=$MRN" \
  --data-urlencode "order=Physiotherapy, 6 sessions" --data-urlencode "note=twice a week")
OID=${U##*/records/}
[[ "$OID" =~ ^[0-9a-f]{32}$ ]] || { sed 's/<style>.*<\/style>//' "$TMP/page" >&2; fail "no record page after the order ($U)"; }
has 'ServiceRequest' "order type"; has 'Physiotherapy, 6 sessions' "order text"; has 'twice a week' "order note"
pass "treatment order $OID stored"

[ "$(get pat /records)" = 200 ] || fail "patient records page"
has "/records/$RID" "the patient does not see the prescription"; has "/records/$OID" "the patient does not see the order"
[ "$(get pat "/records/$RID")" = 200 ] || fail "patient record page"
has 'Amoxicillin 500 mg capsule' "the patient does not see the medication"
has "<option value=\"$DR1\">" "the doctors of the patient's appointments are not offered"
pass "the patient reads both records, decrypted in their UI"

post pat "/records/$RID/share" --data-urlencode action=grant --data-urlencode "key=$DR2" > /dev/null
has 'Granted read access' "grant failed"
"$MV" get --deployment "$DEP" --user "$TMP/drtwo" "$RID" -o "$TMP/g2.json" || fail "the second doctor cannot read after the grant"
ui drtwo
curl -s -o /dev/null -c "$TMP/drtwo.jar" "${URL[drtwo]}"
[ "$(get drtwo "/records/$RID")" = 200 ] || fail "the second doctor's UI cannot show the granted record"
has 'Amoxicillin' "granted record content"
post pat "/records/$RID/share" --data-urlencode action=revoke --data-urlencode "key=$DR2" > /dev/null
has 'Revoked read access' "revoke failed"
"$MV" get --deployment "$DEP" --user "$TMP/drtwo" "$RID" -o "$TMP/g3.json" 2>/dev/null && fail "the second doctor still reads after the revoke"
[ "$(get drtwo "/records/$RID")" = 403 ] || fail "the UI of a revoked reader shows the record"
pass "the patient granted and revoked a second doctor on one record"

get pat "/records/$RID" > /dev/null
post pat "/records/$RID/share" --data-urlencode action=grant --data-urlencode "pick=$DR2" \
  --data-urlencode "episode=$APPT" > /dev/null
has 'for 2 record(s) of the episode' "episode grant"
"$MV" get --deployment "$DEP" --user "$TMP/drtwo" "$OID" -o "$TMP/g4.json" || fail "episode grant does not cover the order"
post pat "/records/$RID/share" --data-urlencode action=revoke --data-urlencode "key=$DR2" --data-urlencode "episode=$APPT" > /dev/null
"$MV" get --deployment "$DEP" --user "$TMP/drtwo" "$OID" -o "$TMP/g5.json" 2>/dev/null && fail "episode revoke left access"
pass "the patient shared and unshared the whole episode"

# Through the clouds (docs/pre.md): the form on the episode, the list, the Revoke button.
"$MV" appointment list --deployment "$DEP" --user "$TMP/drtwo" > /dev/null # publishes his recipient key
[ "$(get pat /appointments)" = 200 ] || fail "appointments page"
has "/appointments/$APPT/clouds" "the patient is not offered a delegation through the clouds"
post pat "/appointments/$APPT/clouds" --data-urlencode "to=$DR2" --data-urlencode days=7 > /dev/null
has 'Delegated through both clouds' "the delegation through the clouds failed: $(grep -o 'failed[^<]*' "$TMP/page" | head -1)"
has '/clouds/revoke' "the patient's delegations through the clouds are not listed with a Revoke button"
"$MV" share delegations --deployment "$DEP" --user "$TMP/drtwo" --json > "$TMP/pre.json"
[ "$(json_get "$TMP/pre.json" 'len(d["received"])')" -eq 1 ] || fail "the recipient does not see the delegation"
post pat "/appointments/$APPT/clouds" --data-urlencode "to=zz" > /dev/null
has 'recipient&#39;s key\|recipient.s key' "a malformed key was not refused"
post pat /clouds/revoke --data-urlencode "to=$DR2" --data-urlencode "label=$APPT" --data-urlencode kind=1 > /dev/null
has 'Revoked at both clouds' "revoking through the clouds failed"
"$MV" share delegations --deployment "$DEP" --user "$TMP/drtwo" --json > "$TMP/pre.json"
[ "$(json_get "$TMP/pre.json" 'len(d["received"])')" -eq 0 ] || fail "the delegation survived its revocation"
pass "the patient delegated the episode through the clouds in the UI and revoked it"

post drone "/appointments/$APPT/status" --data-urlencode status=checked_in > /dev/null
has 'now checked_in' "check in"
post drone "/appointments/$APPT/status" --data-urlencode status=completed > /dev/null
has 'now completed' "complete"
post pat /appointments/request --data-urlencode department=cardiology --data-urlencode 'reason=<script>x</script>' > /dev/null
has 'Appointment requested' "patient request"
[ "$(get drone /prescribe)" = 200 ] || fail "prescribe page"
[ "$(get pat /prescribe)" = 403 ] || fail "a patient reached the prescription form"
pass "check-in, completion, a patient's request; prescriptions are for doctors only"

post drone /logout > /dev/null
[ "$(get drone /)" = 303 ] || fail "the session survived logout"
curl -s -o /dev/null -c "$TMP/drone.jar" "${URL[drone]}"
[ "$(get drone /)" = 200 ] || fail "cannot log in again with the printed URL"
for n in drone drtwo pat; do stop_pid "${UIPID[$n]}"; done
grep -rq 'Amoxicillin' "$TMP"/*.ui.err && fail "record content in the UI's log"
pass "logout ends the session; the UIs stop cleanly on SIGTERM and log no record content"
