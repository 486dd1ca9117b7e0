# bench/args.sh - sourced by the section scripts that take only `[BUILD_DIR] [--write FILE]`
# (pre.sh, ringsig.sh): `bench_args NAME "$@"` sets BUILD (default build) and WRITE (default
# empty), prints line 2 of the calling script as its usage for -h, refuses other options.
bench_args() {
  local name=$1
  shift
  BUILD=build
  WRITE=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --write) WRITE=$2; shift ;;
      -h|--help) sed -n '2,2p' "$0" | sed 's/^# /usage: /'; exit 0 ;;
      -*) echo "$name: unknown option $1" >&2; exit 2 ;;
      *) BUILD=$1 ;;
    esac
    shift
  done
}
