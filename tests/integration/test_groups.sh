#!/usr/bin/env bash
# Group sharing at the hospital, the group manager (docs/groups.md), through real processes
# (`medvault up`): groups are created with three openers (2-of-3) and with none; invited users
# join with their ring keys and the signed roster verifies against the deployment's hospital
# key, with no roster (409) while fewer than two have joined; a removal issues a new epoch
# without her, her key fetch is refused while the others get the new key, an older key is
# derived from the newer one and never the reverse, a member added without history cannot
# read epochs before her join (even those issued between her invitation and her join), a
# removed member added again reads only from her new join unless --history; every member
# holds the same dedup secret, of a new generation after each removal and never after a join;
# suspending a member removes her from the group (new epoch without her, revocation list, key
# refused, next dedup generation) and reinstating her does not put her back; only admins
# create, add and remove; bad inputs get clear errors.
source "$(dirname "$0")/lib.sh"

start_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
HURL=$(json_get "$MEDVAULT_DEPLOYMENT" 'd["hospital_url"]')
key_of() { json_get "$1/public.json" 'd["sign_public_key"]'; }
add() { "$MV" user add --user "$ADMIN" --name "$1" --role "$2" --department oncology --out "$TMP/$1" > /dev/null; }
for u in alice bob carol dave erin dpo meddir; do add "$u" doctor; done
add pat patient
g() { "$MV" group "$@"; }
# jq-free: the value of a Python expression over the JSON in file $1
field() { json_get "$1" "$2"; }
pass "medvault up with 7 doctors and a patient"

# ---- create ----
g create board --user "$ADMIN" --openers "$(key_of "$ADMIN"),dpo,meddir" --json > "$TMP/board.json" \
  || fail "create with three openers"
[ "$(field "$TMP/board.json" '(d["t"], d["n"])')" = "(2, 3)" ] || fail "board should be 2-of-3: $(cat "$TMP/board.json")"
BOARD=$(field "$TMP/board.json" 'd["id"]')
g create solo --user "$ADMIN" --json > "$TMP/solo.json" || fail "create without openers"
[ "$(field "$TMP/solo.json" '(d["t"], d["n"])')" = "(1, 1)" ] || fail "solo should be 1-of-1"
g create board --user "$ADMIN" 2> "$TMP/err" && fail "a second group named board was created"
grep -q "exists" "$TMP/err" || fail "duplicate name: unclear error: $(cat "$TMP/err")"
g create 'bad name' --user "$ADMIN" 2> "$TMP/err" && fail "a group name with a space was accepted"
grep -q "A-Za-z0-9" "$TMP/err" || fail "bad name: unclear error: $(cat "$TMP/err")"
g create ward --user "$TMP/alice" 2> "$TMP/err" && fail "a doctor created a group"
grep -q "only an admin" "$TMP/err" || fail "non-admin create: unclear error: $(cat "$TMP/err")"
g create ward --user "$ADMIN" --openers dpo,meddir 2> "$TMP/err" && fail "two openers were accepted"
grep -q "exactly three" "$TMP/err" || fail "two openers: unclear error: $(cat "$TMP/err")"
g create ward --user "$ADMIN" --openers dpo,meddir,pat 2> "$TMP/err" && fail "a patient became an opener"
grep -q "admin or doctor" "$TMP/err" || fail "patient opener: unclear error: $(cat "$TMP/err")"
g create ward --user "$ADMIN" --openers dpo,meddir,nobody 2> "$TMP/err" && fail "an unknown opener was accepted"
grep -q 'no user is named "nobody"' "$TMP/err" || fail "unknown opener: unclear error: $(cat "$TMP/err")"
pass "create: 2-of-3 and alone; duplicate, bad name, non-admin, wrong openers refused"

# The openers got their own shares (sealed to them), and nobody else does.
for o in "$ADMIN" "$TMP/dpo" "$TMP/meddir"; do
  "$MV_SIGN_BIN" --user "$o" --target "$HURL" GET "/v1/groups/board/opener-share" > "$TMP/h" || fail "sign"
  args=(); while IFS= read -r line; do args+=(-H "$line"); done < "$TMP/h"
  code=$(curl -s -o "$TMP/share.json" -w '%{http_code}' "${args[@]}" "$HURL/v1/groups/board/opener-share")
  [ "$code" = 200 ] || fail "an opener could not fetch her share: $code $(cat "$TMP/share.json")"
done
"$MV_SIGN_BIN" --user "$TMP/alice" --target "$HURL" GET "/v1/groups/board/opener-share" > "$TMP/h"
args=(); while IFS= read -r line; do args+=(-H "$line"); done < "$TMP/h"
code=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "$HURL/v1/groups/board/opener-share")
[ "$code" = 403 ] || fail "a non-opener fetched an opener share: $code"
pass "opener shares: each opener gets hers, others 403"

# ---- add, join, roster ----
g add board alice bob carol --user "$TMP/alice" 2> "$TMP/err" && fail "a doctor added members"
g add board alice bob "$(key_of "$TMP/carol")" --user "$ADMIN" --json > "$TMP/add.json" || fail "add three"
[ "$(field "$TMP/add.json" 'd["added"]')" = 3 ] || fail "three should be added: $(cat "$TMP/add.json")"
g add board alice --user "$ADMIN" --json > "$TMP/add.json" || fail "adding a member again"
[ "$(field "$TMP/add.json" 'd["added"]')" = 0 ] || fail "a second add of alice should add nobody"
g add nosuch alice --user "$ADMIN" 2> "$TMP/err" && fail "add to a missing group succeeded"
grep -q "no such group" "$TMP/err" || fail "missing group: unclear error: $(cat "$TMP/err")"
g join board --user "$TMP/dave" 2> "$TMP/err" && fail "an uninvited user joined"
grep -q "not invited" "$TMP/err" || fail "uninvited join: unclear error: $(cat "$TMP/err")"
# A join whose proof of possession does not verify is refused before anything changes.
printf '{"ring_public_key":"e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76","proof":"%0128d"}' 0 > "$TMP/jbody"
"$MV_SIGN_BIN" --user "$TMP/alice" --target "$HURL" POST /v1/groups/board/join "$TMP/jbody" > "$TMP/h"
args=(); while IFS= read -r line; do args+=(-H "$line"); done < "$TMP/h"
code=$(curl -s -o "$TMP/jr.json" -w '%{http_code}' "${args[@]}" -H 'Content-Type: application/json' \
  --data-binary @"$TMP/jbody" "$HURL/v1/groups/board/join")
[ "$code" = 400 ] && grep -q "proof of possession" "$TMP/jr.json" || fail "a bad proof: $code $(cat "$TMP/jr.json")"
g roster board --user "$TMP/alice" 2> "$TMP/err" && fail "a roster was served before anyone joined"
grep -q "fewer than 2" "$TMP/err" || fail "no roster: unclear error: $(cat "$TMP/err")"
g join board --user "$TMP/alice" --json > "$TMP/j.json" || fail "alice join"
[ "$(field "$TMP/j.json" '(d["joined"], d["epoch"])')" = "(True, 1)" ] || fail "alice's join: $(cat "$TMP/j.json")"
g roster board --user "$TMP/alice" 2> "$TMP/err" && fail "a roster of one member was served"
grep -q "fewer than 2" "$TMP/err" || fail "one-member roster: unclear error: $(cat "$TMP/err")"
g join board --user "$TMP/bob" > /dev/null || fail "bob join"
g join board --user "$TMP/carol" > /dev/null || fail "carol join"
g join board --user "$TMP/carol" --json > "$TMP/j.json" || fail "a second join should be harmless"
[ "$(field "$TMP/j.json" 'd["joined"]')" = False ] || fail "a second join joined again"
g roster board --user "$TMP/dave" --json > "$TMP/r3.json" || fail "roster of epoch 3"
[ "$(field "$TMP/r3.json" '(d["verified"], d["epoch"], len(d["members"]), d["group"], d["t"], d["n"])')" = \
  "(True, 3, 3, '$BOARD', 2, 3)" ] || fail "the roster of epoch 3: $(cat "$TMP/r3.json")"
g roster "$BOARD" --epoch 2 --user "$TMP/dave" --json > "$TMP/r2.json" || fail "the roster of epoch 2 by id"
[ "$(field "$TMP/r2.json" '(d["epoch"], len(d["members"]))')" = "(2, 2)" ] || fail "epoch 2: $(cat "$TMP/r2.json")"
g roster board --epoch 9 --user "$TMP/dave" 2> "$TMP/err" && fail "a future epoch was served"
# The roster is public (no signed request), in the MVG1 encoding.
curl -sf -o "$TMP/roster.bin" "$HURL/v1/groups/board/roster" || fail "the public roster"
[ "$(head -c 4 "$TMP/roster.bin")" = MVG1 ] || fail "the roster is not MVG1"
pass "add, join (proof of possession), rosters of epochs 2 and 3 verify; none below 2 members"

# ---- keys ----
for u in alice bob carol; do
  g key board --user "$TMP/$u" --json > "$TMP/k-$u.json" || fail "$u's key"
done
[ "$(field "$TMP/k-alice.json" '(d["epoch"], d["first_epoch"])')" = "(3, 1)" ] || fail "alice's keys: $(cat "$TMP/k-alice.json")"
F3=$(field "$TMP/k-alice.json" 'd["fingerprint"]')
[ "$(field "$TMP/k-bob.json" 'd["fingerprint"]')" = "$F3" ] || fail "alice and bob hold different keys of epoch 3"
D1=$(field "$TMP/k-alice.json" 'd["dedup_fingerprint"]')
[ "$(field "$TMP/k-alice.json" 'd["dedup_generation"]')" = 1 ] || fail "three joins changed the dedup generation"
[ "$(field "$TMP/k-carol.json" '(d["dedup_generation"], d["dedup_fingerprint"])')" = "(1, '$D1')" ] \
  || fail "alice and carol hold different dedup secrets: $(cat "$TMP/k-carol.json")"
g key board --user "$TMP/dave" 2> "$TMP/err" && fail "a non-member got the group key"
grep -q "only a member" "$TMP/err" || fail "non-member key: unclear error: $(cat "$TMP/err")"
pass "keys: every member holds the same key of epoch 3; a non-member gets 403"

# ---- remove ----
g remove board carol --user "$TMP/alice" 2> "$TMP/err" && fail "a doctor removed a member"
g remove board carol --user "$ADMIN" --json > "$TMP/rm.json" || fail "remove carol"
[ "$(field "$TMP/rm.json" 'd["epoch"]')" = 4 ] || fail "the removal should issue epoch 4: $(cat "$TMP/rm.json")"
g roster board --user "$TMP/dave" --json > "$TMP/r4.json" || fail "roster of epoch 4"
CAROL_RING=$(json_get "$TMP/r3.json" "sorted(set(d['members']) - set($(json_get "$TMP/r4.json" 'd["members"]')))[0]")
[ "$(field "$TMP/r4.json" '(d["epoch"], len(d["members"]))')" = "(4, 2)" ] || fail "epoch 4: $(cat "$TMP/r4.json")"
[ "$(json_get "$TMP/r4.json" "set(d['members']) < set($(json_get "$TMP/r3.json" 'd["members"]'))")" = True ] \
  || fail "epoch 4 should keep alice and bob and drop only carol"
g key board --user "$TMP/carol" 2> "$TMP/err" && fail "a removed member got the group key"
grep -q "only a member" "$TMP/err" || fail "removed key: unclear error: $(cat "$TMP/err")"
g join board --user "$TMP/carol" 2> "$TMP/err" && fail "a removed member joined again"
grep -q "removed" "$TMP/err" || fail "removed join: unclear error: $(cat "$TMP/err")"
g remove board carol --user "$ADMIN" 2> "$TMP/err" && fail "a second removal succeeded"
grep -q "already removed" "$TMP/err" || fail "second removal: unclear error: $(cat "$TMP/err")"
g key board --user "$TMP/alice" --json > "$TMP/k4.json" || fail "alice's key after the removal"
[ "$(field "$TMP/k4.json" 'd["epoch"]')" = 4 ] || fail "alice should hold epoch 4: $(cat "$TMP/k4.json")"
[ "$(field "$TMP/k4.json" 'd["fingerprint"]')" != "$F3" ] || fail "the key did not rotate"
[ "$(field "$TMP/k4.json" 'd["dedup_generation"]')" = 2 ] || fail "the removal did not start dedup generation 2"
D2=$(field "$TMP/k4.json" 'd["dedup_fingerprint"]')
[ "$D2" != "$D1" ] || fail "the dedup secret did not change with the removal"
g key board --epoch 3 --user "$TMP/alice" --json > "$TMP/k43.json" || fail "epoch 3 from epoch 4's key"
[ "$(field "$TMP/k43.json" 'd["fingerprint"]')" = "$F3" ] || fail "epoch 3's key is not derived from epoch 4's"
g key board --epoch 5 --user "$TMP/alice" 2> "$TMP/err" && fail "a key newer than the current one was derived"
# The revocation list names carol's ring key, serial = the epoch.
curl -sf -o "$TMP/rev.bin" "$HURL/v1/groups/board/revocations" || fail "the group revocation list"
[ "$(head -c 4 "$TMP/rev.bin")" = MVL1 ] || fail "the revocation list is not MVL1"
python3 -c "import sys; d=open(sys.argv[1],'rb').read(); sys.exit(0 if bytes.fromhex(sys.argv[2]) in d else 1)" \
  "$TMP/rev.bin" "$CAROL_RING" || fail "the revocation list does not name carol's ring key"
pass "remove: epoch 4 without her, her key and rejoin refused, key rotated, 3 derived from 4 and not 5, revocation listed"

# ---- no history ----
# dave is invited without history at epoch 4, erin's join issues epoch 5 before dave joins:
# dave reads from his own join (epoch 6), not from the epoch after his invitation.
g add board dave --no-history --user "$ADMIN" > /dev/null || fail "add dave without history"
g add board erin --history --user "$ADMIN" > /dev/null || fail "add erin with history"
g add board erin --history --no-history --user "$ADMIN" 2> "$TMP/err" && fail "contradicting flags were accepted"
grep -q "contradict" "$TMP/err" || fail "contradicting flags: unclear error: $(cat "$TMP/err")"
g join board --user "$TMP/erin" > /dev/null || fail "erin join"
g join board --user "$TMP/dave" > /dev/null || fail "dave join"
g key board --user "$TMP/dave" --json > "$TMP/kd.json" || fail "dave's key"
[ "$(field "$TMP/kd.json" '(d["first_epoch"], d["epoch"])')" = "(6, 6)" ] || fail "dave reads 6..6: $(cat "$TMP/kd.json")"
g key board --epoch 5 --user "$TMP/dave" 2> "$TMP/err" && fail "a member without history read epoch 5, before his join"
grep -q "may not read epoch 5" "$TMP/err" || fail "no-history: unclear error: $(cat "$TMP/err")"
g key board --epoch 3 --user "$TMP/erin" --json > "$TMP/ke.json" || fail "erin (with history) reads epoch 3"
[ "$(field "$TMP/ke.json" 'd["fingerprint"]')" = "$F3" ] || fail "erin's key of epoch 3 differs"
g key board --epoch 6 --user "$TMP/erin" --json > "$TMP/ke6.json" || fail "erin epoch 6"
[ "$(field "$TMP/kd.json" 'd["fingerprint"]')" = "$(field "$TMP/ke6.json" 'd["fingerprint"]')" ] \
  || fail "dave and erin hold different keys of epoch 6"
[ "$(field "$TMP/kd.json" '(d["dedup_generation"], d["dedup_fingerprint"])')" = "(2, '$D2')" ] \
  || fail "joins changed the dedup secret, or dave holds another: $(cat "$TMP/kd.json")"
pass "no history: dave reads from his join (epoch 6) only, erin (history) from 1; same key of 6, same dedup secret"

# ---- ls, tokens, openings, whois ----
g ls --user "$TMP/alice" --json > "$TMP/ls.json" || fail "ls"
[ "$(field "$TMP/ls.json" '[(x["name"], x["status"]) for x in d["groups"]]')" = "[('board', 'active')]" ] \
  || fail "alice's groups: $(cat "$TMP/ls.json")"
g ls --user "$ADMIN" --json > "$TMP/ls.json" || fail "admin ls"
[ "$(field "$TMP/ls.json" '[x["name"] for x in d["groups"]]')" = "['board', 'solo']" ] || fail "admin's groups"
g ls --user "$TMP/bob" | grep -q board || fail "ls as a table"
pass "ls: a member sees her group, the admin every group"

tok() { # USER : HTTP status of POST /v1/groups/board/tokens with one tag
  local body='{"tags":["'"$(printf '%064d' 7)"'"]}'
  printf '%s' "$body" > "$TMP/tbody"
  "$MV_SIGN_BIN" --user "$1" --target "$HURL" POST /v1/groups/board/tokens "$TMP/tbody" > "$TMP/h"
  local args=(); while IFS= read -r line; do args+=(-H "$line"); done < "$TMP/h"
  curl -s -o "$TMP/tok.json" -w '%{http_code}' "${args[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/tbody" "$HURL/v1/groups/board/tokens"
}
[ "$(tok "$TMP/alice")" = 200 ] || fail "a member's tokens: $(cat "$TMP/tok.json")"
[ "$(field "$TMP/tok.json" 'len(d["tokens"]["'"$BOARD"'"])')" = 1 ] || fail "tokens: $(cat "$TMP/tok.json")"
[ "$(tok "$TMP/carol")" = 403 ] || fail "a removed member got group tokens"
pass "tokens: members only"

# ---- openers: who is a ring key, and the log of openings ----
signed() { # USER METHOD PATH [BODY_FILE] : HTTP status, answer in $TMP/ans
  "$MV_SIGN_BIN" --user "$1" --target "$HURL" "$2" "$3" ${4:+"$4"} > "$TMP/h"
  local args=(); while IFS= read -r line; do args+=(-H "$line"); done < "$TMP/h"
  if [ -n "${4:-}" ]; then args+=(-H 'Content-Type: application/json' --data-binary @"$4"); fi
  curl -s -o "$TMP/ans" -w '%{http_code}' -X "$2" "${args[@]}" "$HURL$3"
}
[ "$(signed "$TMP/dpo" GET "/v1/groups/board/members/$CAROL_RING")" = 200 ] || fail "an opener's whois: $(cat "$TMP/ans")"
[ "$(field "$TMP/ans" '(d["name"], d["status"], d["removed_epoch"])')" = "('carol', 'removed', 4)" ] \
  || fail "whois of carol's ring key: $(cat "$TMP/ans")"
[ "$(signed "$TMP/alice" GET "/v1/groups/board/members/$CAROL_RING")" = 403 ] || fail "a member learned who a ring key is"
printf '{"record":"%032d","version":2,"signer":"%s","note":"dispute 17"}' 5 "$CAROL_RING" > "$TMP/obody"
[ "$(signed "$TMP/meddir" POST /v1/groups/board/openings "$TMP/obody")" = 201 ] || fail "logging an opening: $(cat "$TMP/ans")"
[ "$(signed "$TMP/bob" POST /v1/groups/board/openings "$TMP/obody")" = 403 ] || fail "a member logged an opening"
printf '{"record":"zz","version":2}' > "$TMP/obody"
[ "$(signed "$ADMIN" POST /v1/groups/board/openings "$TMP/obody")" = 400 ] || fail "a malformed opening was logged"
grep -q "record (32 hex)" "$TMP/ans" || fail "malformed opening: unclear error: $(cat "$TMP/ans")"
[ "$(signed "$ADMIN" GET /v1/groups/board)" = 200 ] || fail "the admin's view of the group"
[ "$(field "$TMP/ans" '(len(d["members"]), len(d["openers"]), [e["epoch"] for e in d["epochs"]])')" = \
  "(5, 3, [6, 5, 4, 3, 2, 1])" ] || fail "the group's members, openers and epochs: $(cat "$TMP/ans")"
[ "$(signed "$ADMIN" DELETE /v1/groups/board/members/nothex)" = 400 ] || fail "a malformed user key was accepted"
pass "whois and openings: admins and openers only, logged; the admin sees members, openers and every epoch"

# ---- a removed member added again keeps her ring key: her old signatures still trace to her ----
g add board carol --user "$ADMIN" > /dev/null || fail "add carol again"
[ "$(signed "$TMP/dpo" GET "/v1/groups/board/members/$CAROL_RING")" = 200 ] || fail "carol's old ring key lost its owner: $(cat "$TMP/ans")"
[ "$(field "$TMP/ans" '(d["name"], d["status"])')" = "('carol', 'invited')" ] || fail "whois after re-adding: $(cat "$TMP/ans")"
g join board --user "$TMP/carol" --json > "$TMP/j.json" || fail "carol joins again"
g roster board --user "$TMP/carol" --json > "$TMP/r7.json" || fail "roster of epoch 7"
[ "$(json_get "$TMP/r7.json" "(d['epoch'], '$CAROL_RING' in d['members'], len(d['members']))")" = "(7, True, 5)" ] \
  || fail "carol should be back in epoch 7 with her ring key: $(cat "$TMP/r7.json")"
# Added again without --history, she reads only from her new join.
g key board --user "$TMP/carol" --json > "$TMP/kc.json" || fail "carol's key after rejoining"
[ "$(field "$TMP/kc.json" '(d["first_epoch"], d["epoch"])')" = "(7, 7)" ] || fail "re-added carol reads 7..7: $(cat "$TMP/kc.json")"
g key board --epoch 4 --user "$TMP/carol" 2> "$TMP/err" && fail "re-added carol read epoch 4 (while she was out)"
pass "re-added: the same ring key, traced to her throughout; no history by default"

# ---- the dashboard's Groups pages ----
"$MV" dashboard --user "$ADMIN" --json > "$TMP/dash.json" || fail "dashboard login URL"
curl -s -o /dev/null -c "$TMP/jar" "$(json_get "$TMP/dash.json" 'd["url"]')"
curl -s -b "$TMP/jar" -o "$TMP/groups.html" "$HURL/admin/groups"
grep -q 'id="groups"' "$TMP/groups.html" && grep -q "href=\"/admin/groups?g=$BOARD\">board</a>" "$TMP/groups.html" \
  && grep -q '>solo</a>' "$TMP/groups.html" || fail "the groups list lacks board or solo"
curl -s -b "$TMP/jar" -o "$TMP/board.html" "$HURL/admin/groups?g=board"
grep -q '<dd id="epoch">7</dd>' "$TMP/board.html" || fail "the group page lacks the epoch"
grep -q '<tr class="st-removed"><td>carol' "$TMP/board.html" && fail "carol (back) is shown removed"
grep -q '<tr class="st-active"><td>carol</td>' "$TMP/board.html" || fail "carol is not shown active"
grep -q 'id="openers"' "$TMP/board.html" && grep -q '<td>dpo</td>' "$TMP/board.html" || fail "the openers are missing"
grep -q '<tr class="ev-opening">.*dispute 17' "$TMP/board.html" || fail "the logged opening is not in the event log"
grep -q 'no roster (fewer than 2 members)' "$TMP/board.html" || fail "epoch 1 should show no roster"
grep -q 'id="revocations-empty"' "$TMP/board.html" || fail "nobody is removed now: the revocation list should be empty"
[ "$(curl -s -b "$TMP/jar" -o /dev/null -w '%{http_code}' "$HURL/admin/groups?g=nosuch")" = 404 ] || fail "a missing group page"
g remove board erin --user "$ADMIN" > /dev/null || fail "remove erin"
curl -s -b "$TMP/jar" -o "$TMP/board.html" "$HURL/admin/groups?g=board"
grep -q 'id="revocations"' "$TMP/board.html" && grep -q '<td>erin</td><td>8</td>' "$TMP/board.html" \
  || fail "erin's removal is not on the revocation list"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$HURL/admin/groups")" != 200 ] || fail "the groups page without a session"
pass "dashboard: groups list, a group's members, openers, epochs, revocation list and event log"

# ---- suspending a member removes her from the group; reinstating does not put her back ----
g roster board --user "$TMP/dave" --json > "$TMP/r8.json" || fail "roster of epoch 8"
g key board --user "$TMP/alice" --json > "$TMP/k8.json" || fail "alice's key of epoch 8"
[ "$(field "$TMP/k8.json" '(d["epoch"], d["dedup_generation"])')" = "(8, 3)" ] || fail "epoch 8: $(cat "$TMP/k8.json")"
signed "$ADMIN" GET "/v1/groups/board" > /dev/null
BOB_RING=$(field "$TMP/ans" '[m["ring_public_key"] for m in d["members"] if m["name"] == "bob"][0]')
"$MV" user status "$(key_of "$TMP/bob")" suspended --user "$ADMIN" > /dev/null || fail "suspend bob"
g roster board --user "$TMP/dave" --json > "$TMP/r9.json" || fail "roster after the suspension"
[ "$(json_get "$TMP/r9.json" "(d['epoch'], '$BOB_RING' in d['members'], len(d['members']))")" = "(9, False, 3)" ] \
  || fail "the suspension should issue epoch 9 without bob: $(cat "$TMP/r9.json")"
curl -sf -o "$TMP/rev.bin" "$HURL/v1/groups/board/revocations" || fail "the group revocation list"
python3 -c "import sys; d=open(sys.argv[1],'rb').read(); sys.exit(0 if bytes.fromhex(sys.argv[2]) in d else 1)" \
  "$TMP/rev.bin" "$BOB_RING" || fail "the revocation list does not name suspended bob's ring key"
g key board --user "$TMP/bob" 2> "$TMP/err" && fail "a suspended member got the group key"
g key board --user "$TMP/alice" --json > "$TMP/k9.json" || fail "alice's key after the suspension"
[ "$(field "$TMP/k9.json" '(d["epoch"], d["dedup_generation"])')" = "(9, 4)" ] \
  || fail "the suspension should rotate the key and the dedup secret: $(cat "$TMP/k9.json")"
[ "$(field "$TMP/k9.json" 'd["dedup_fingerprint"]')" != "$(field "$TMP/k8.json" 'd["dedup_fingerprint"]')" ] \
  || fail "the dedup secret did not change with the suspension"
[ "$(signed "$ADMIN" GET /v1/groups/board)" = 200 ] || fail "the admin's view after the suspension"
[ "$(field "$TMP/ans" '[(m["status"], m["removed_epoch"]) for m in d["members"] if m["name"] == "bob"][0]')" = \
  "('removed', 9)" ] || fail "bob should be removed at epoch 9: $(cat "$TMP/ans")"
"$MV" user status "$(key_of "$TMP/bob")" active --user "$ADMIN" > /dev/null || fail "reinstate bob"
g key board --user "$TMP/bob" 2> "$TMP/err" && fail "a reinstated user got the group key without being added again"
grep -q "only a member" "$TMP/err" || fail "reinstated key: unclear error: $(cat "$TMP/err")"
g roster board --user "$TMP/dave" --json > "$TMP/r9b.json" || fail "roster after the reinstatement"
[ "$(field "$TMP/r9b.json" 'd["epoch"]')" = 9 ] || fail "reinstating bob issued an epoch"
pass "suspension: epoch 9 without bob, his ring key revoked, his key refused, dedup generation 4; reinstated, still out"
