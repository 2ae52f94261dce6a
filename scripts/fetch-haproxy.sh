#!/usr/bin/env bash
# Fetches Debian's HAProxy for the PROXY-protocol end-to-end tests (test/e2e/haproxy-proxy-protocol),
# without installing it system-wide: `apt-get download` + `dpkg-deb -x` into a cache directory
# (like fetch-nginx.sh). The binary's shared libraries are checked with ldd; any that the system
# lacks (liblua5.3 on a minimal image, typically) are fetched the same way into the cache, and the
# tests run HAProxy with LD_LIBRARY_PATH pointing there. Idempotent.
#
# Usage: scripts/fetch-haproxy.sh [CACHE_DIR]   (default: $PWD/.cache/haproxy; binary in CACHE_DIR/usr/sbin/haproxy)
# Exit status: 0 when `haproxy -v` runs, non-zero with a message on stderr otherwise.
set -euo pipefail

cache_dir="${1:-$PWD/.cache/haproxy}"
bin="$cache_dir/usr/sbin/haproxy"
# Where the extra libraries land (the test suite sets LD_LIBRARY_PATH to these directories).
lib_path="$cache_dir/usr/lib/x86_64-linux-gnu:$cache_dir/lib/x86_64-linux-gnu:$cache_dir/usr/lib:$cache_dir/lib"

fail() {
  echo "fetch-haproxy: $*" >&2
  exit 1
}

missing_libs() {
  LD_LIBRARY_PATH="$lib_path" ldd "$bin" 2>/dev/null | awk '/not found/ {print $1}'
}

download_into_cache() {
  local work
  work="$(mktemp -d "$(dirname "$cache_dir")/.fetch-haproxy.XXXXXX")"
  # apt-get download drops root privileges to the _apt user; let it write the download dir.
  if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
  if ! (cd "$work" && apt-get download -q "$@") >"$work/download.log" 2>&1; then
    cat "$work/download.log" >&2
    rm -rf "$work"
    fail "apt-get download $* failed"
  fi
  local deb
  for deb in "$work"/*.deb; do
    [[ -f "$deb" ]] || { rm -rf "$work"; fail "no .deb downloaded for $*"; }
    dpkg-deb -x "$deb" "$cache_dir"
  done
  rm -rf "$work"
}

if [[ ! -x "$bin" ]]; then
  command -v apt-get >/dev/null || fail "apt-get not found; this script needs a Debian/Ubuntu system (or put haproxy at $bin)"
  command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"
  mkdir -p "$cache_dir"
  download_into_cache haproxy
  [[ -x "$bin" ]] || fail "the haproxy package did not contain usr/sbin/haproxy"
fi

# Libraries the system lacks: map each to the Debian package that ships it, fetch and extract it;
# again for what those need (bounded: a few rounds).
package_of() {
  case "$1" in
    liblua5.3.so.0) echo liblua5.3-0 ;;
    libopentracing-c-wrapper.so.0) echo libopentracing-c-wrapper0 ;;
    libopentracing.so.1) echo libopentracing1 ;;
    libpcre2-8.so.0) echo libpcre2-8-0 ;;
    libssl.so.3 | libcrypto.so.3) echo libssl3 ;;
    libsystemd.so.0) echo libsystemd0 ;;
    libcrypt.so.1) echo libcrypt1 ;;
    libz.so.1) echo zlib1g ;;
    liblzma.so.5) echo liblzma5 ;;
    libzstd.so.1) echo libzstd1 ;;
    liblz4.so.1) echo liblz4-1 ;;
    libcap.so.2) echo libcap2 ;;
    libgcrypt.so.20) echo libgcrypt20 ;;
    libgpg-error.so.0) echo libgpg-error0 ;;
    libstdc++.so.6) echo libstdc++6 ;;
    libgcc_s.so.1) echo libgcc-s1 ;;
    *) return 1 ;;
  esac
}
for round in 1 2 3 4; do
  mapfile -t absent < <(missing_libs)
  (( ${#absent[@]} > 0 )) || break
  (( round < 4 )) || fail "still missing: ${absent[*]}"
  echo "fetch-haproxy: libraries not on this system: ${absent[*]}"
  packages=()
  for lib in "${absent[@]}"; do
    pkg="$(package_of "$lib")" || fail "no known Debian package for $lib"
    packages+=("$pkg")
  done
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  download_into_cache "${packages[@]}"
done

# Captured, then cut: `| head -1` would close the pipe on haproxy, and under pipefail its SIGPIPE
# (exit 141) failed the script now and then.
version="$(LD_LIBRARY_PATH="$lib_path" "$bin" -v 2>&1)" || fail "haproxy -v failed: $version"
echo "fetch-haproxy: ${version%%$'\n'*}"
