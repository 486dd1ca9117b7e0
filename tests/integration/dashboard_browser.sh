#!/usr/bin/env bash
# dashboard_browser.sh - runs tests/browser/dashboard.mjs (headless chromium) against the admin
# dashboard. Screenshots go to $MV_ARTIFACTS (default build/artifacts/screenshots).
#
#   MV_DASH_MODE=fixture (default): serves the fixture registry of tests/unit/test_dashboard.c
#     (its MV_DASH_SERVE mode, with a stand-in storage server) and checks content and escaping.
#   MV_DASH_MODE=hospital: a real deployment; needs MV_DASH_LOGIN_URL (e.g. from
#     `medvault dashboard --user ADMIN_DIR`, which calls POST /v1/sessions). Not named test_*.sh
#     yet, so ctest does not run it: the integrator wires the hospital mode once the registry
#     and `medvault dashboard` are on main (see docs/dashboard.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${MV_BUILD_DIR:-$repo/build}"
export MV_ARTIFACTS="${MV_ARTIFACTS:-$build/artifacts/screenshots}"

command -v node >/dev/null || { echo "dashboard_browser: node is missing (bash scripts/setup.sh --browser)" >&2; exit 1; }
[ -x "${MV_CHROMIUM:-/usr/bin/chromium}" ] || { echo "dashboard_browser: chromium is missing (bash scripts/setup.sh --browser)" >&2; exit 1; }
[ -d "$repo/tests/browser/node_modules/playwright-core" ] || npm ci --prefix "$repo/tests/browser" --no-audit --no-fund

mode="${MV_DASH_MODE:-fixture}"
case "$mode" in
  fixture)
    tmp="$(mktemp -d)"
    server_pid=""
    cleanup() { rm -f "$tmp/url"; [ -n "$server_pid" ] && wait "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
    trap cleanup EXIT
    MV_DASH_SERVE="$tmp/url" MV_DASH_SERVE_SECONDS=300 "$build/tests/test_dashboard" >"$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do [ -s "$tmp/url" ] && break; sleep 0.1; done
    [ -s "$tmp/url" ] || { echo "dashboard_browser: the fixture dashboard did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }
    MV_DASH_LOGIN_URL="$(head -n1 "$tmp/url")" MV_DASH_FIXTURES=1 node "$repo/tests/browser/dashboard.mjs"
    ;;
  hospital)
    : "${MV_DASH_LOGIN_URL:?set MV_DASH_LOGIN_URL to the output of medvault dashboard --user ADMIN_DIR}"
    MV_DASH_FIXTURES=0 node "$repo/tests/browser/dashboard.mjs"
    ;;
  *) echo "dashboard_browser: MV_DASH_MODE must be fixture or hospital" >&2; exit 2 ;;
esac
echo "dashboard_browser: screenshots in $MV_ARTIFACTS"
