#!/usr/bin/env bash
# Tracing a disputed group operation through real processes (docs/groups.md "Tracing"): a
# group with 2-of-3 openers (the admin, a data protection officer, a medical director); members
# write anonymously; the admin writes the case file of a disputed modification; one opener's
# partial alone names nobody; a second opener's partial combines into an opening that names the
# member who really wrote it (for each of two versions by different members, with different
# pairs of openers); `group judge` accepts the opening offline and refuses a forged one, a case
# whose labels were changed and an opening of another version; a user who is not an opener gets
# nothing; the openings are in the group's event log; a group without openers is opened by the
# admin alone.
source "$(dirname "$0")/lib.sh"

start_up
DEP=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
for u in dpo director alice bob carol; do
  "$MV" user add --deployment "$DEP" --user "$ADMIN" --name "$u" --role doctor --department ward --out "$TMP/$u" > /dev/null
done
g() { local who=$1; shift; "$MV" group "$@" --deployment "$DEP" --user "$who"; }
G=$(g "$ADMIN" create ward-7a --openers admin,dpo,director --json | json_get - 'd["id"]')
[ -n "$G" ] || fail "group create with three openers"
g "$ADMIN" add ward-7a alice bob carol > /dev/null
for u in alice bob carol; do g "$TMP/$u" join ward-7a > /dev/null; done
pass "ward-7a ($G): openers admin, dpo, director; members alice, bob, carol"

printf 'handover: bed 4 needs a potassium check at 18:00\n' > "$TMP/h1.txt"
printf 'handover: bed 4 potassium 3.1, repeat at 22:00\n' > "$TMP/h2.txt"
printf 'handover: bed 4 potassium fine, no repeat\n' > "$TMP/h3.txt"
ID=$(g "$TMP/alice" put --group ward-7a "$TMP/h1.txt" --json | json_get - 'd["id"]')
g "$TMP/bob" modify --group ward-7a "$ID" "$TMP/h2.txt" > /dev/null
g "$TMP/carol" modify --group ward-7a "$ID" "$TMP/h3.txt" > /dev/null
pass "alice put version 1, bob modified it (version 2), carol modified it again (version 3)"

# The case file of version 2 (admins only).
g "$ADMIN" case ward-7a "$ID" --version 2 --out "$TMP/case2.json" > /dev/null || fail "the admin writes a case file"
if g "$TMP/alice" case ward-7a "$ID" --version 2 --out "$TMP/x.json" 2> "$TMP/err"; then
  fail "a member wrote a case file (the history is the manager's)"
fi
python3 - "$TMP/case2.json" <<'PY' || fail "the case file does not carry version 2's signed operation"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["v"] == 1 and c["version"] == 2, c
m = bytes.fromhex(c["msg"])
assert m.startswith(b"medvault-group-op-v1\n") and m[45] == 2, m  # op 2 = modify
assert bytes.fromhex(c["roster"])[:4] == b"MVG1"
PY
pass "the admin writes the case file of version 2; a member cannot"

# One opener alone: a partial, no name.
g "$ADMIN" open "$TMP/case2.json" --out "$TMP/p-admin.json" --json > "$TMP/o1.json" || fail "the admin's partial"
python3 - "$TMP/p-admin.json" "$TMP/o1.json" <<'PY' || fail "one opener's output names a member"
import json, sys
p = json.load(open(sys.argv[1]))
assert set(p) == {"v", "sig_sha256", "share", "partial"}, p
assert "member" not in open(sys.argv[2]).read() and "ring_public_key" not in open(sys.argv[2]).read()
PY
pass "one opener (the admin) gets a partial and no name"

# A second opener combines: the opening names bob.
g "$TMP/dpo" open "$TMP/case2.json" --partial "$TMP/p-admin.json" --out "$TMP/opening2.json" --note "dispute 17" \
  --json > "$TMP/o2.json" || fail "the second opener's opening"
[ "$(json_get "$TMP/o2.json" 'd["member"]["name"]')" = bob ] || fail "the opening of version 2 does not name bob: $(cat "$TMP/o2.json")"
pass "admin + dpo open version 2: bob"

# Anyone checks it, offline, with only the deployment file (the hospital's key).
"$MV" group judge "$TMP/case2.json" "$TMP/opening2.json" --deployment "$DEP" --json > "$TMP/j2.json" \
  || fail "group judge refused a true opening: $(cat "$TMP/j2.json")"
[ "$(json_get "$TMP/j2.json" 'd["valid"]')" = True ] || fail "judge: not valid"
[ "$(json_get "$TMP/j2.json" 'd["ring_public_key"]')" = "$(json_get "$TMP/o2.json" 'd["ring_public_key"]')" ] \
  || fail "the judge names another key than the opening"
pass "group judge accepts the opening (no account, no network)"

# Version 3 with another pair of openers: carol. The opening of version 2 does not open it.
g "$ADMIN" case ward-7a "$ID" --version 3 --out "$TMP/case3.json" > /dev/null
g "$TMP/director" open "$TMP/case3.json" --out "$TMP/p-dir.json" > /dev/null
g "$TMP/dpo" open "$TMP/case3.json" --partial "$TMP/p-dir.json" --out "$TMP/opening3.json" --json > "$TMP/o3.json"
[ "$(json_get "$TMP/o3.json" 'd["member"]["name"]')" = carol ] || fail "the opening of version 3 does not name carol"
if "$MV" group judge "$TMP/case3.json" "$TMP/opening2.json" --deployment "$DEP" > /dev/null 2>&1; then
  fail "the judge accepted version 2's opening for version 3"
fi
pass "director + dpo open version 3: carol; version 2's opening does not fit version 3"

# A forged opening: version 3's opening edited to name bob's position (key and index).
python3 - "$TMP/opening3.json" "$TMP/o2.json" "$TMP/forged.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1])); bob = json.load(open(sys.argv[2]))
raw = bytearray.fromhex(o["opening"])
raw[4:8] = bob["member_index"].to_bytes(4, "big")
raw[8:40] = bytes.fromhex(bob["ring_public_key"])
o["opening"] = raw.hex(); o["member_index"] = bob["member_index"]; o["member_key"] = bob["ring_public_key"]
json.dump(o, open(sys.argv[3], "w"))
PY
if "$MV" group judge "$TMP/case3.json" "$TMP/forged.json" --deployment "$DEP" 2> "$TMP/err"; then
  fail "the judge accepted an opening forged to name bob"
fi
grep -q "NOT valid" "$TMP/err" || fail "the judge's refusal does not say so: $(cat "$TMP/err")"
# A case whose labels were changed (version 3's signature presented as version 1, alice's).
python3 - "$TMP/case3.json" "$TMP/relabel.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["version"] = 1
json.dump(c, open(sys.argv[2], "w"))
PY
if "$MV" group judge "$TMP/relabel.json" "$TMP/opening3.json" --deployment "$DEP" 2> "$TMP/err"; then
  fail "the judge accepted a case whose version label is not the signed one"
fi
if g "$TMP/director" open "$TMP/relabel.json" --out "$TMP/x.json" 2> "$TMP/err"; then
  fail "an opener decrypted a relabelled case"
fi
pass "the judge refuses a forged opening and a relabelled case; openers refuse to open a relabelled case"

# A member who is not an opener gets nothing, even with one partial in hand.
if g "$TMP/alice" open "$TMP/case2.json" --partial "$TMP/p-admin.json" --out "$TMP/x.json" 2> "$TMP/err"; then
  fail "a non-opener combined one partial into an opening"
fi
grep -q "not an opener" "$TMP/err" || fail "the refusal does not say why: $(cat "$TMP/err")"
pass "a non-opener with one partial cannot open"

# The openings are in the group's event log (the hospital's registry: read it as the admin's
# dashboard does, from the database the hospital keeps).
REG=$(find "$TMP/mv" -name registry.db | head -1)
[ -n "$REG" ] || fail "no registry.db under the deployment"
python3 - "$REG" <<'PY' || fail "the group's event log does not record the openings"
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT kind, details FROM group_events WHERE kind = 'opening'").fetchall()
text = " ".join(d for _, d in rows)
assert len(rows) >= 4, rows          # two partials alone, two combined openings at least
assert "dispute 17" in text, rows
PY
pass "the group's event log records every opening step and the note"

# A group without openers: the admin opens alone.
g "$ADMIN" create solo --json > /dev/null
g "$ADMIN" add solo alice bob > /dev/null
for u in alice bob; do g "$TMP/$u" join solo > /dev/null; done
SID=$(g "$TMP/bob" put --group solo "$TMP/h1.txt" --json | json_get - 'd["id"]')
g "$ADMIN" case solo "$SID" --out "$TMP/case-solo.json" > /dev/null
g "$ADMIN" open "$TMP/case-solo.json" --out "$TMP/opening-solo.json" --json > "$TMP/os.json"
[ "$(json_get "$TMP/os.json" 'd["member"]["name"]')" = bob ] || fail "the admin alone does not open the solo group's file to bob"
"$MV" group judge "$TMP/case-solo.json" "$TMP/opening-solo.json" --deployment "$DEP" > /dev/null || fail "judge (solo)"
pass "a group without openers: the admin opens alone, and the judge agrees"
