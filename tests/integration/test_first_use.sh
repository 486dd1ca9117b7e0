#!/usr/bin/env bash
# The rough edges a new user hit in issue 14's trial, each checked on one real deployment:
# a second `up` on a running deployment's directory is refused and changes nothing; `put` of
# a missing path names it, stores the other files, counts it as failed and exits non-zero.
source "$(dirname "$0")/lib.sh"

start_up
D=$TMP/mv/deployment.json
export MEDVAULT_DEPLOYMENT=$D
"$MV" user add --user "$TMP/mv/admin" --name dr-a --role doctor --department cardiology --out "$TMP/dr-a" > /dev/null
pass "medvault up is ready"

# 1. A second `up` on the same directory: refused at once, naming the directory and the
#    running up's pid; ready, port and pid files stay and the deployment keeps serving.
ls -l --time-style=+%s.%N "$TMP/mv/ready" "$TMP/mv/run/" > "$TMP/files.before"
rc=0
timeout 30 "$MV" up --dir "$TMP/mv" > "$TMP/up2.out" 2> "$TMP/up2.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a second up on a running deployment's directory exited 0"
[ "$rc" -ne 124 ] || fail "a second up on a running deployment's directory did not exit at once"
grep -q "$TMP/mv is in use by another \`medvault up\` (pid $UP); nothing was changed" "$TMP/up2.err" \
  || fail "the second up did not say the directory is in use and by which pid: $(cat "$TMP/up2.err")"
[ -f "$TMP/mv/ready" ] || fail "the second up removed the running deployment's ready file"
for f in hospital.port storage.port decoy.port hospital.pid keyserver1.pid storage.pid; do
  [ -s "$TMP/mv/run/$f" ] || fail "the second up removed the running deployment's run/$f"
done
ls -l --time-style=+%s.%N "$TMP/mv/ready" "$TMP/mv/run/" > "$TMP/files.after"
cmp -s "$TMP/files.before" "$TMP/files.after" || fail "the second up changed files in run/: $(diff "$TMP/files.before" "$TMP/files.after")"
kill -0 "$UP" 2>/dev/null || fail "the first up stopped"
echo '{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"hr"}}' > "$TMP/o1.json"
"$MV" put --user "$TMP/dr-a" "$TMP/o1.json" > "$TMP/put0.out" 2> "$TMP/put0.err" \
  || fail "the running deployment stopped serving after a second up: $(cat "$TMP/put0.err")"
pass "a second up on the same directory is refused (pid named), and the running deployment is untouched"

# 2. put of a missing path among others: the others are stored, the missing one is named and
#    counted as failed, and put exits non-zero.
mkdir -p "$TMP/in"
for i in 1 2; do
  echo "{\"resourceType\":\"Observation\",\"id\":\"p$i\",\"status\":\"final\",\"code\":{\"text\":\"t$i\"}}" > "$TMP/in/p$i.json"
done
rc=0
"$MV" put --user "$TMP/dr-a" "$TMP/in/p1.json" "$TMP/in/missing.json" "$TMP/in/p2.json" \
  > "$TMP/put1.out" 2> "$TMP/put1.err" || rc=$?
[ "$rc" -ne 0 ] || fail "put with a missing path exited 0"
[ "$(grep -c '^[0-9a-f]\{32\}  ' "$TMP/put1.out")" -eq 2 ] || fail "put did not store the two files that exist: $(cat "$TMP/put1.out" "$TMP/put1.err")"
grep -q "$TMP/in/p1.json" "$TMP/put1.out" && grep -q "$TMP/in/p2.json" "$TMP/put1.out" \
  || fail "put's output does not list both stored files: $(cat "$TMP/put1.out")"
grep -q "$TMP/in/missing.json: not stored" "$TMP/put1.err" || fail "put did not name the missing path: $(cat "$TMP/put1.err")"
grep -q "stored 2 records (1 failed)" "$TMP/put1.err" || fail "put did not count the missing path as failed: $(cat "$TMP/put1.err")"
rc=0
"$MV" put --user "$TMP/dr-a" --json "$TMP/in/missing.json" "$TMP/in/p1.json" > "$TMP/put2.json" 2> "$TMP/put2.err" || rc=$?
[ "$rc" -ne 0 ] || fail "put --json with a missing path exited 0"
python3 - "$TMP/put2.json" "$TMP/in/missing.json" <<'EOF' || fail "put --json does not report the missing path as failed: $(cat "$TMP/put2.json")"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["records"]
# p1.json was stored by the put above: this time it is the same resource, unchanged.
assert [x["status"] for x in r] == ["failed", "unchanged"], r
assert r[0]["path"] == sys.argv[2] and r[0]["error"] == "not found", r[0]
assert d["stats"]["failed"] == 1 and d["stats"]["unchanged"] == 1, d["stats"]
EOF
pass "put of a missing path names it, stores the rest, counts it as failed and exits non-zero"

# 3. Deployment-file errors say which file and what is wrong with it; `deployment show`
#    includes the service URLs.
# expect_err WHAT REGEX CMD... : CMD fails and its stderr matches REGEX.
expect_err() {
  local what=$1 re=$2 rc=0
  shift 2
  "$@" > "$TMP/e.out" 2> "$TMP/e.err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$what: exited 0"
  grep -q -- "$re" "$TMP/e.err" || fail "$what: stderr does not say \"$re\": $(cat "$TMP/e.err")"
}
expect_err "a directory as the deployment" "deployment file $TMP/mv: is a directory; the deployment file is $TMP/mv/deployment.json" \
  "$MV" ls --deployment "$TMP/mv" --user "$TMP/dr-a"
expect_err "a missing deployment file" "deployment file $TMP/nope.json: no such file" \
  "$MV" ls --deployment "$TMP/nope.json" --user "$TMP/dr-a"
expect_err "a missing user directory" "user directory $TMP/nobody: no such directory" \
  "$MV" ls --user "$TMP/nobody"
mkdir "$TMP/empty"
expect_err "a directory without keys" "user directory $TMP/empty: holds no user keys" "$MV" ls --user "$TMP/empty"
[ ! -e "$TMP/empty/hospital.pin" ] || fail "a hospital key pin was written into a directory that holds no user keys"
echo '{"version":1,"suite":"ristretto255-SHA512"}' > "$TMP/bad.json"
expect_err "a malformed deployment file" "deployment file $TMP/bad.json: not a valid deployment file: \"hospital_public_key\"" \
  "$MV" deployment show "$TMP/bad.json"
expect_err "deployment show of a directory" "deployment file $TMP/mv: is a directory" "$MV" deployment show "$TMP/mv"
HURL=$(json_get "$D" 'd["hospital_url"]')
SURL=$(json_get "$D" 'd["storage_url"]')
"$MV" deployment show "$D" > "$TMP/show.txt"
grep -q "^hospital  *$HURL\$" "$TMP/show.txt" || fail "deployment show omits the hospital URL: $(cat "$TMP/show.txt")"
grep -q "^storage  *$SURL\$" "$TMP/show.txt" || fail "deployment show omits the storage URL: $(cat "$TMP/show.txt")"
grep -q "^re-encryption: 2 of 2 proxies\$" "$TMP/show.txt" || fail "deployment show omits the proxies: $(cat "$TMP/show.txt")"
grep -q "^  proxy 2 at http" "$TMP/show.txt" || fail "deployment show omits proxy 2: $(cat "$TMP/show.txt")"
"$MV" deployment show --json "$D" > "$TMP/show.json"
[ "$(json_get "$TMP/show.json" 'd["hospital_url"] + " " + d["storage_url"]')" = "$HURL $SURL" ] \
  || fail "deployment show --json omits the service URLs: $(cat "$TMP/show.json")"
pass "deployment-file errors name the file and the problem; deployment show includes the service URLs"

# 4. A failed `user add` leaves nothing behind, so the retry works; a second doctor or admin
#    of an existing name is refused by the hospital.
ADM=(--user "$TMP/mv/admin")
expect_err "a typo in the role" 'the role must be doctor, patient or admin (not "docter")' \
  "$MV" user add "${ADM[@]}" --name dr-b --role docter --department cardiology --out "$TMP/dr-b"
[ ! -e "$TMP/dr-b" ] || fail "a user add with a bad role left $TMP/dr-b behind: $(ls -la "$TMP/dr-b")"
"$MV" user add "${ADM[@]}" --name dr-b --role doctor --department cardiology --out "$TMP/dr-b" > /dev/null 2> "$TMP/e.err" \
  || fail "the retry after a bad role failed: $(cat "$TMP/e.err")"
# Refused by the hospital itself (a department name it does not accept), after the keys were made.
expect_err "a department the hospital refuses" "the hospital answered HTTP 400" \
  "$MV" user add "${ADM[@]}" --name dr-c --role doctor --department "card/iology" --out "$TMP/dr-c"
[ ! -e "$TMP/dr-c" ] || fail "a user add the hospital refused left $TMP/dr-c behind: $(ls -la "$TMP/dr-c")"
mkdir "$TMP/pre"
expect_err "a department the hospital refuses, into an existing directory" "the hospital answered HTTP 400" \
  "$MV" user add "${ADM[@]}" --name dr-c --role doctor --department "card/iology" --out "$TMP/pre"
[ -d "$TMP/pre" ] && [ -z "$(ls -A "$TMP/pre")" ] || fail "the refused user add did not leave $TMP/pre as it was (empty)"
"$MV" user add "${ADM[@]}" --name dr-c --role doctor --department cardiology --out "$TMP/dr-c" > /dev/null 2> "$TMP/e.err" \
  || fail "the retry after a refused department failed: $(cat "$TMP/e.err")"
expect_err "a second doctor named dr-a" "HTTP 409: a doctor or admin of this name is already registered" \
  "$MV" user add "${ADM[@]}" --name dr-a --role doctor --department neurology --out "$TMP/dr-a2"
[ ! -e "$TMP/dr-a2" ] || fail "a refused duplicate name left $TMP/dr-a2 behind"
expect_err "an --out that holds keys" "$TMP/dr-a already holds keys" \
  "$MV" user add "${ADM[@]}" --name dr-z --role doctor --department neurology --out "$TMP/dr-a"
"$MV" put --user "$TMP/dr-a" "$TMP/o1.json" > /dev/null 2> "$TMP/e.err" || fail "dr-a's directory was damaged: $(cat "$TMP/e.err")"
"$MV" user add "${ADM[@]}" --name "Pat Same" --role patient --out "$TMP/pat1" > /dev/null
"$MV" user add "${ADM[@]}" --name "Pat Same" --role patient --out "$TMP/pat2" > /dev/null 2> "$TMP/e.err" \
  || fail "two patients of the same name were refused: $(cat "$TMP/e.err")"
pass "a failed user add leaves nothing behind and the retry works; duplicate staff names are refused"

stop_pid "$UP"
pass "up stops cleanly"
