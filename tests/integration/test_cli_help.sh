#!/usr/bin/env bash
# test_cli_help.sh - `medvault help CMD`, `medvault CMD -h` and `medvault CMD --help` print the
# same help (the command's own, not the top-level list) and exit 0, for every command and every
# subcommand of a command group; put's synopsis names --patient.
source "$(dirname "$0")/lib.sh"

# commands HELP_TEXT : the names listed under "commands:" in a group's help.
commands() { awk '/^commands:/ {f = 1; next} f && /^  [a-z]/ {print $1}' <<< "$1"; }

# same_help WORD... : the three spellings agree for `medvault WORD...` and name it.
same_help() {
  local a b c
  a=$("$MV" help "$@") || fail "medvault help $* exited non-zero"
  b=$("$MV" "$@" -h) || fail "medvault $* -h exited non-zero"
  c=$("$MV" "$@" --help) || fail "medvault $* --help exited non-zero"
  [ "$a" = "$c" ] || fail "medvault help $* differs from medvault $* --help"
  [ "$b" = "$c" ] || fail "medvault $* -h differs from medvault $* --help"
  # A group's subcommands may share one usage text (appointment's verbs do): it starts with
  # the group and names the subcommand.
  [[ "$c" == "usage: medvault $1 "* ]] || fail "medvault $* --help does not start with its usage: ${c%%$'\n'*}"
  [ $# -eq 1 ] || grep -qw -- "$2" <<< "$c" || fail "medvault $* --help does not name $2"
  [[ "$c" != "usage: medvault COMMAND "* ]] || fail "medvault $* --help printed the top-level help"
}

TOP=$("$MV" --help)
n=0
for cmd in $(commands "$TOP"); do
  same_help "$cmd"
  n=$((n + 1))
  help=$("$MV" "$cmd" --help)
  if [[ "$help" == "usage: medvault $cmd COMMAND "* ]]; then
    for sub in $(commands "$help"); do
      same_help "$cmd" "$sub"
      n=$((n + 1))
    done
  fi
done
[ "$n" -gt 40 ] || fail "only $n commands were checked: the command list was not read"
pass "help CMD, CMD -h and CMD --help print the command's own help for all $n commands and subcommands"

# put's synopsis (the lines before the first blank line) names --patient.
"$MV" put --help | sed '/^$/q' | grep -q -- '--patient' || fail "put's usage line omits --patient"
pass "put's usage line names --patient"

# An unknown command after help is refused as a usage error.
rc=0
"$MV" help no-such-command > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "help of an unknown command exited $rc, not 2"
pass "help of an unknown command is a usage error"
