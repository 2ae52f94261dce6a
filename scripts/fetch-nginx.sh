#!/usr/bin/env bash
# Fetches Debian's nginx binary for the benchmark's "nginx recipe" contender, without installing
# it system-wide: `apt-get download` + `dpkg-deb -x` into a cache directory (like
# fetch-prometheus.sh). Idempotent. Only the benchmark needs it; the test suite does not.
#
# Usage: scripts/fetch-nginx.sh [CACHE_DIR]   (default: $PWD/.cache/nginx; binary in CACHE_DIR/usr/sbin/nginx)
set -euo pipefail

cache_dir="${1:-$PWD/.cache/nginx}"
bin="$cache_dir/usr/sbin/nginx"

fail() {
  echo "fetch-nginx: $*" >&2
  exit 1
}

if [[ ! -x "$bin" ]]; then
  command -v apt-get >/dev/null || fail "apt-get not found; this script needs a Debian/Ubuntu system (or put nginx at $bin)"
  mkdir -p "$(dirname "$cache_dir")"
  work="$(mktemp -d "$(dirname "$cache_dir")/.fetch-nginx.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
  (cd "$work" && apt-get download -q nginx) >"$work/download.log" 2>&1 ||
    { cat "$work/download.log" >&2; fail "apt-get download nginx failed"; }
  deb=("$work"/nginx_*.deb)
  [[ -f "${deb[0]}" ]] || fail "no nginx .deb downloaded"
  mkdir -p "$cache_dir"
  dpkg-deb -x "${deb[0]}" "$cache_dir"
fi
"$bin" -v 2>&1 | sed 's/^/fetch-nginx: /'
