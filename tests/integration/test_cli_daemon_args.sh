#!/usr/bin/env bash
# test_cli_daemon_args.sh - the daemon commands (hospital run, keyserver run, storage run,
# storage check, storage gc) parse their options through one table-driven parser; this pins
# what a user sees: --help on stdout with status 0, usage on stderr with status 2 for an
# unknown option, a missing required option or a stray argument, getopt's own messages for
# abbreviations, and the range check on --threads. Nothing here starts a daemon.
source "$(dirname "$0")/lib.sh"

HK=$(printf '%064d' 0)
mkdir -p "$TMP/d"

# run_cli EXPECTED_STATUS ARGS... : runs medvault ARGS, output in $TMP/out and $TMP/err.
run_cli() {
  local want=$1 rc=0
  shift
  "$MV" "$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "'medvault $*' exited $rc, expected $want: $(head -3 "$TMP/err")"
}
# err_has TEXT : the last command's stderr holds TEXT.
err_has() { grep -qF -- "$1" "$TMP/err" || fail "stderr lacks '$1': $(head -3 "$TMP/err")"; }

for cmd in "hospital run" "keyserver run" "storage run" "storage check" "storage gc"; do
  # shellcheck disable=SC2086
  set -- $cmd
  run_cli 0 "$@" --help
  head -1 "$TMP/out" | grep -q "^usage: medvault $cmd " || fail "$cmd --help: no usage on stdout"
  [ -s "$TMP/err" ] && fail "$cmd --help wrote to stderr"
  help=$(cat "$TMP/out")

  # --help after other options still prints the help and nothing else.
  run_cli 0 "$@" --dir "$TMP/d" --help
  [ "$(cat "$TMP/out")" = "$help" ] || fail "$cmd: --help after an option printed something else"

  run_cli 2 "$@"
  [ -s "$TMP/out" ] && fail "$cmd without options wrote to stdout"
  [ "$(cat "$TMP/err")" = "$help" ] || fail "$cmd without options: usage not on stderr"

  run_cli 2 "$@" --bogus
  err_has "unrecognized option '--bogus'"
  err_has "usage: medvault $cmd "

  run_cli 2 "$@" --dir
  err_has "option '--dir' requires an argument"

  run_cli 2 "$@" --he=1
  err_has "option '--help' doesn't allow an argument"
  pass "$cmd: help, unknown option, missing value"
done

# Each run command needs all of its required options, and takes no positional argument.
run_cli 2 hospital run --dir "$TMP/d"
err_has "usage: medvault hospital run "
run_cli 2 hospital run --listen 127.0.0.1:0
run_cli 2 keyserver run --dir "$TMP/d" --listen 127.0.0.1:0
err_has "usage: medvault keyserver run "
run_cli 2 storage run --dir "$TMP/d" --listen 127.0.0.1:0
err_has "usage: medvault storage run "
run_cli 2 keyserver run --dir "$TMP/d" --listen 127.0.0.1:0 --hospital-key "$HK" extra
err_has "usage: medvault keyserver run "
run_cli 2 storage check --dir "$TMP/d" extra
err_has "usage: medvault storage check "
pass "required options and stray arguments"

# The value checks that follow parsing: --threads is 1..256 in all three daemons.
run_cli 2 hospital run --dir "$TMP/d" --listen 127.0.0.1:0 --threads 0
err_has "--threads must be a number between 1 and 256"
run_cli 2 keyserver run --dir "$TMP/d" --listen 127.0.0.1:0 --hospital-key "$HK" --threads 257
err_has "--threads must be a number between 1 and 256"
run_cli 2 storage run --dir "$TMP/d" --listen 127.0.0.1:0 --hospital-key "$HK" --threads x
err_has "--threads must be a number between 1 and 256"
run_cli 2 storage run --dir "$TMP/d" --listen 127.0.0.1:0 --hospital-key zz
err_has "--hospital-key must be 32 bytes of hex"
pass "--threads and --hospital-key checks"

# Unique prefixes keep working (getopt_long), ambiguous ones are refused, flags take no value.
run_cli 2 hospital run --di "$TMP/d" --li 127.0.0.1:0 --thr 0
err_has "--threads must be a number between 1 and 256"
run_cli 2 storage run --dir "$TMP/d" --listen 127.0.0.1:0 --hospital-key "$HK" --pr x
err_has "option '--pr' is ambiguous"
run_cli 2 hospital run --dir "$TMP/d" --listen 127.0.0.1:0 --syslog=1
err_has "option '--syslog' doesn't allow an argument"
run_cli 1 storage check --dir "$TMP/d" --js
err_has "holds no store"
[ -s "$TMP/out" ] && fail "storage check on an empty directory wrote a report"
pass "abbreviations and flags"
