#!/usr/bin/env bash
# `medvault canon`: exact output bytes (the canonical form, no newline added unless standard
# output is a terminal), --split (human and --json),
# --profiles, standard input, and exit status 1 with a message that names the byte offset but
# never echoes content for invalid JSON, duplicate keys and invalid UTF-8.
source "$(dirname "$0")/lib.sh"

# Two exporters' formatting of the same MedicationRequest (synthetic, written for this test).
cat > "$TMP/a.json" <<'EOF'
{
  "resourceType": "MedicationRequest",
  "id": "rx-1",
  "subject": {"reference": "Patient/p-1"},
  "authoredOn": "2024-03-01",
  "intent": "order",
  "medicationCodeableConcept": {"text": "Amlodipine 5 mg"},
  "dosageInstruction": [{"text": "1 tablet daily", "doseAndRate": [{"doseQuantity": {"value": 1.50, "unit": "tablet"}}]}],
  "dispenseRequest": {"validityPeriod": {"start": "2024-03-01"}, "quantity": {"value": 30}},
  "note": [{"text": "caf\u00e9 \/ \u0001"}]
}
EOF
printf '%s' '{"note":[{"text":"café / \u0001"}],"dispenseRequest":{"quantity":{"value":30},"validityPeriod":{"start":"2024-03-01"}},"dosageInstruction":[{"doseAndRate":[{"doseQuantity":{"unit":"tablet","value":1.50}}],"text":"1 tablet daily"}],"medicationCodeableConcept":{"text":"Amlodipine 5 mg"},"intent":"order","authoredOn":"2024-03-01","subject":{"reference":"Patient/p-1"},"id":"rx-1","resourceType":"MedicationRequest"}' > "$TMP/b.json"

WANT='{"authoredOn":"2024-03-01","dispenseRequest":{"quantity":{"value":30},"validityPeriod":{"start":"2024-03-01"}},"dosageInstruction":[{"doseAndRate":[{"doseQuantity":{"unit":"tablet","value":1.50}}],"text":"1 tablet daily"}],"id":"rx-1","intent":"order","medicationCodeableConcept":{"text":"Amlodipine 5 mg"},"note":[{"text":"café / \u0001"}],"resourceType":"MedicationRequest","subject":{"reference":"Patient/p-1"}}'
printf '%s' "$WANT" > "$TMP/want"

"$MV" canon "$TMP/a.json" > "$TMP/a.out"
cmp -s "$TMP/a.out" "$TMP/want" || fail "canonical form of a.json differs from the expected bytes"
"$MV" canon - < "$TMP/b.json" > "$TMP/b.out"
cmp -s "$TMP/b.out" "$TMP/want" || fail "canonical form of b.json (stdin) differs from the expected bytes"
"$MV" canon "$TMP/a.out" > "$TMP/again.out"
cmp -s "$TMP/again.out" "$TMP/want" || fail "canon is not idempotent"
pass "canon: exact bytes, two formattings agree, stdin, idempotent"

# On a terminal (a pseudo-terminal from script(1)) a newline follows, so the prompt starts on
# its own line; the terminal turns it into CR LF.
if command -v script > /dev/null; then
  script -qec "'$MV' canon '$TMP/a.json'" /dev/null < /dev/null > "$TMP/tty.out"
  printf '%s\r\n' "$WANT" | cmp -s - "$TMP/tty.out" || fail "canon on a terminal: not the canonical form and one newline"
  pass "canon on a terminal ends with a newline"
fi

# --split, human view.
"$MV" canon --split "$TMP/a.json" > "$TMP/split.out"
ENV='{"authoredOn":"2024-03-01","dispenseRequest":{"validityPeriod":{"start":"2024-03-01"}},"id":"rx-1","note":[{"text":"café / \u0001"}],"resourceType":"MedicationRequest","subject":{"reference":"Patient/p-1"}}'
BLK='{"dispenseRequest":{"quantity":{"value":30}},"dosageInstruction":[{"doseAndRate":[{"doseQuantity":{"unit":"tablet","value":1.50}}],"text":"1 tablet daily"}],"intent":"order","medicationCodeableConcept":{"text":"Amlodipine 5 mg"}}'
printf 'envelope (%d bytes):\n%s\nblock 0 (root, %d bytes):\n%s\n' \
  "$(printf '%s' "$ENV" | wc -c)" "$ENV" "$(printf '%s' "$BLK" | wc -c)" "$BLK" > "$TMP/split.want"
cmp -s "$TMP/split.out" "$TMP/split.want" || { diff "$TMP/split.want" "$TMP/split.out" >&2; fail "--split output differs"; }
pass "canon --split prints the envelope and the root block with their sizes"

# --split --json, on a Bundle whose first entry (a Patient) gives no block.
printf '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p-1"}},{"resource":%s}]}' \
  "$(cat "$TMP/b.json")" > "$TMP/bundle.json"
"$MV" canon --split --json "$TMP/bundle.json" > "$TMP/bundle.out"
"$MV" canon "$TMP/bundle.json" > "$TMP/bundle.canon"
python3 - "$TMP/bundle.out" "$TMP/bundle.canon" "$BLK" <<'EOF' || fail "--split --json output is wrong"
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
d = json.loads(raw)
assert raw.endswith("}\n") and raw.count("\n") == 1, "one JSON line"
assert set(d) == {"canonical_bytes", "envelope", "blocks"}, d.keys()
canon = open(sys.argv[2], "rb").read()
assert d["canonical_bytes"] == len(canon), (d["canonical_bytes"], len(canon))
assert len(d["blocks"]) == 1 and d["blocks"][0]["slot"] == 1, d["blocks"]
b = d["blocks"][0]
assert '"content":' + sys.argv[3] + "}" in raw  # the block's exact bytes (1.50 stays 1.50)
assert b["bytes"] == len(sys.argv[3].encode())
assert "dosageInstruction" not in d["envelope"]["entry"][1]["resource"]
assert d["envelope"]["entry"][1]["resource"]["subject"] == {"reference": "Patient/p-1"}
assert d["envelope"]["entry"][0]["resource"] == {"resourceType": "Patient", "id": "p-1"}
EOF
# The same answer byte for byte: member order, no spaces, the envelope as --split prints it.
"$MV" canon --split "$TMP/bundle.json" | sed -n 2p > "$TMP/bundle.env"
python3 - "$TMP/bundle.out" "$TMP/bundle.canon" "$TMP/bundle.env" "$BLK" <<'EOF' || fail "--split --json bytes differ"
import sys
raw = open(sys.argv[1], "rb").read()
n = len(open(sys.argv[2], "rb").read())
env = open(sys.argv[3], "rb").read().rstrip(b"\n")
blk = sys.argv[4].encode()
want = b'{"canonical_bytes":%d,"envelope":%s,"blocks":[{"slot":1,"bytes":%d,"content":%s}]}\n' % (n, env, len(blk), blk)
assert raw == want, (raw, want)
EOF
pass "canon --split --json on a Bundle"

# --profiles: a profile that keeps only subject in the envelope moves authoredOn to the block.
printf '{"version":1,"default":{"envelope":"*"},"types":{"MedicationRequest":{"envelope":["subject"]}}}' > "$TMP/prof.json"
"$MV" canon --split --json --profiles "$TMP/prof.json" "$TMP/a.json" > "$TMP/prof.out"
json_get "$TMP/prof.out" '"authoredOn" in d["blocks"][0]["content"] and "subject" not in d["blocks"][0]["content"]' \
  | grep -qx True || fail "--profiles was not used"
printf '{"version":1,"default":{"envelope":"*"},"types":{},"extra":1}' > "$TMP/badprof.json"
rc=0; "$MV" canon --split --profiles "$TMP/badprof.json" "$TMP/a.json" > /dev/null 2> "$TMP/badprof.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a malformed profile file gave exit status $rc, want 1"
grep -q "cannot load split profiles" "$TMP/badprof.err" || fail "no clear message for a malformed profile file"
pass "canon --profiles uses the given file and refuses a malformed one"

# Invalid inputs: exit 1, the file name and byte offset, no content echoed, nothing on stdout.
expect_invalid() { # NAME FILE OFFSET
  local rc=0
  "$MV" canon "$2" > "$TMP/$1.out" 2> "$TMP/$1.err" || rc=$?
  [ "$rc" -eq 1 ] || fail "$1: exit status $rc, want 1"
  [ ! -s "$TMP/$1.out" ] || fail "$1: something was printed on stdout"
  grep -qF "$2: invalid JSON at byte $3 (" "$TMP/$1.err" || fail "$1: unclear message: $(cat "$TMP/$1.err")"
  grep -q "SECRET" "$TMP/$1.err" && fail "$1: the error message echoes the content"
  return 0
}
printf '{"resourceType":"Patient","name":"SECRET",}' > "$TMP/syntax.json"
expect_invalid syntax "$TMP/syntax.json" 42
printf '{"name":"SECRET","a":1,"a":2}' > "$TMP/dup.json"
expect_invalid duplicate "$TMP/dup.json" 29 # just past the closing brace
grep -q "duplicate key" "$TMP/duplicate.err" || fail "a duplicate key is not called one: $(cat "$TMP/duplicate.err")"
printf '{"name":"SECRET\xff"}' > "$TMP/utf8.json"
expect_invalid utf8 "$TMP/utf8.json" 15
rc=0; printf '[1,' | "$MV" canon - > /dev/null 2> "$TMP/stdin.err" || rc=$?
[ "$rc" -eq 1 ] && grep -qF "<stdin>: invalid JSON at byte 3 (" "$TMP/stdin.err" || fail "invalid stdin not reported"
pass "canon rejects invalid JSON, duplicate keys and invalid UTF-8 with exit 1 and an offset"

# Usage errors and a missing file.
rc=0; "$MV" canon --json "$TMP/a.json" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--json without --split gave $rc, want 2"
rc=0; "$MV" canon > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "no FILE gave $rc, want 2"
rc=0; "$MV" canon "$TMP/absent.json" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "a missing file gave $rc, want 1"
rc=0; "$MV" canon --split <(printf '[1]') > /dev/null 2> "$TMP/notres.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "not a FHIR resource" "$TMP/notres.err" || fail "--split on a non-resource not refused"
"$MV" canon --help | grep -q "usage: medvault canon" || fail "--help"
pass "canon usage errors exit 2, unreadable or non-resource input exits 1"
