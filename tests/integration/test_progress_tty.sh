#!/usr/bin/env bash
# test_progress_tty.sh - progress on a terminal (a pseudo-terminal from script(1)) never runs
# into other output: the progress line is erased before each result or error line and at the
# end, for put (MiB uploaded, record lines on stdout) and get --all (records written). The
# terminal's final screen is rebuilt from the raw bytes and checked line by line.
source "$(dirname "$0")/lib.sh"
command -v script > /dev/null || { echo "ok - skipped: script(1) is not installed"; exit 0; }

start_up
DEP=$TMP/mv/deployment.json
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name card --role doctor --department cardiology \
  --out "$TMP/card" > /dev/null
"$MV" gen-emr "$TMP/emr" 40 --departments cardiology --seed 5 > /dev/null
head -c 3000000 /dev/urandom > "$TMP/emr/cardiology/scan.bin" # an attachment: several MiB steps
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name other --role doctor --department cardiology \
  --out "$TMP/other" > /dev/null

# tty CMD... : runs CMD on a pseudo-terminal (CI unset: progress is allowed), raw bytes to
# $TMP/tty.raw; fails the test if CMD fails.
tty() {
  local q="" a
  for a in "$@"; do q+=" $(printf '%q' "$a")"; done
  env -u CI script -qefc "$q" /dev/null < /dev/null > "$TMP/tty.raw" || fail "$* failed on a terminal"
}

# screen PROGRESS_RE OK_RE : rebuilds the screen from $TMP/tty.raw (CR, LF, erase line) and
# checks that progress was shown at some point, that no line left on the screen holds progress
# (erased before other output and at the end), and that every line left matches OK_RE.
screen() {
  python3 - "$TMP/tty.raw" "$1" "$2" <<'PY'
import re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
progress, ok = re.compile(sys.argv[2]), re.compile(sys.argv[3])
assert progress.search(raw), "no progress was shown: the test proves nothing"
lines, cur, col = [], [], 0
i = 0
while i < len(raw):
    if raw.startswith("\x1b[K", i):
        del cur[col:]; i += 3; continue
    c = raw[i]; i += 1
    if c == "\r": col = 0
    elif c == "\n": lines.append("".join(cur)); cur, col = [], 0
    else:
        if col < len(cur): cur[col] = c
        else: cur.append(c)
        col += 1
if cur: lines.append("".join(cur))
for l in lines:
    assert not progress.search(l), f"a progress line is left on the screen: {l!r}"
    assert ok.fullmatch(l), f"unexpected screen line: {l!r}"
PY
}

tty "$MV" put --deployment "$DEP" --user "$TMP/card" "$TMP/emr/cardiology"
screen 'put: [0-9.]+ / [0-9.]+ MiB' '[0-9a-f]{32}  \S+(  [A-Za-z]+/\S+ v\d+( \(unchanged\))?)?|stored \d+ records .*' \
  || fail "put's progress ran into its output on a terminal"
pass "put on a terminal: progress erased before each record line and at the end"

mkdir -p "$TMP/out"
tty "$MV" get --deployment "$DEP" --user "$TMP/card" --all -o "$TMP/out"
screen 'get: \d+/\d+' '' || fail "get --all left its progress on the terminal"
[ "$(ls "$TMP/out" | wc -l)" -eq 41 ] || fail "get --all restored $(ls "$TMP/out" | wc -l) files, not 41"
pass "get --all on a terminal: progress erased at the end"
