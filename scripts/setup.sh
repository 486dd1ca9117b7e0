#!/usr/bin/env bash
# Installs the Debian packages medvault needs, and only those that are missing.
# Called by `make run` and `make check`; safe to run again.
# --bench also installs the peers bench/peers.sh compares against (restic, borgbackup).
# --browser also installs what the browser tests and the interop test need (tests/browser: Debian's
# chromium, node and npm if missing, and playwright-core, fhir-kit-client, @noble/curves and
# @noble/hashes from tests/browser/package-lock.json).
# --fhir-client installs only node, npm and those npm packages (no browser): `make run` reads the
# imported records with a real FHIR client.
set -euo pipefail

bench=0
browser=0
node=0
usage="usage: bash scripts/setup.sh [--bench] [--browser] [--fhir-client]"
for a in "$@"; do
  case "$a" in
    --bench) bench=1 ;;
    --browser) browser=1; node=1 ;;
    --fhir-client) node=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "setup: unknown option $a ($usage)" >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "$0")/.." && pwd)"

pkgs=(
  build-essential cmake ninja-build pkg-config
  libsodium-dev libssl-dev libcurl4-openssl-dev libmicrohttpd-dev
  liblmdb-dev libzstd-dev libsqlite3-dev libcmocka-dev
  curl python3
)
if [ "$bench" = 1 ]; then
  pkgs+=(restic borgbackup)
fi
if [ "$browser" = 1 ]; then
  pkgs+=(chromium)
fi
if [ "$node" = 1 ]; then
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

# playwright-core for the browser tests, fhir-kit-client for the FHIR server's test and
# @noble/curves, @noble/hashes for the ring signature's interop test (tests/interop), pinned by
# package-lock.json (only when one is missing, so a lock file that gained a package installs it).
browser_modules() {
  local m
  [ "$node" = 1 ] || return 0
  for m in playwright-core fhir-kit-client @noble/curves @noble/hashes; do
    if [ ! -d "$repo/tests/browser/node_modules/$m" ]; then
      echo "setup: installing the node test dependencies (npm ci in tests/browser)"
      npm ci --prefix "$repo/tests/browser" --no-audit --no-fund
      return 0
    fi
  done
}

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  browser_modules
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
browser_modules
