#!/usr/bin/env bash
# Installs the Debian packages medvault needs, and only those that are missing.
# Called by `make run` and `make check`; safe to run again.
# --bench also installs the peers bench/peers.sh compares against (restic, borgbackup).
set -euo pipefail

bench=0
for a in "$@"; do
  case "$a" in
    --bench) bench=1 ;;
    -h|--help) echo "usage: bash scripts/setup.sh [--bench]"; exit 0 ;;
    *) echo "setup: unknown option $a (usage: bash scripts/setup.sh [--bench])" >&2; exit 2 ;;
  esac
done

pkgs=(
  build-essential cmake ninja-build pkg-config
  libsodium-dev libssl-dev libcurl4-openssl-dev libmicrohttpd-dev
  liblmdb-dev libzstd-dev libsqlite3-dev libcmocka-dev
  curl python3
)
if [ "$bench" = 1 ]; then
  pkgs+=(restic borgbackup)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing missing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
