#!/usr/bin/env bash
# Fetches real Prometheus binaries (prometheus, promtool, prometheus-node-exporter) for the
# end-to-end tests, from the distribution's packages, without installing them system-wide:
# `apt-get download` + `dpkg-deb -x` into a cache directory. Idempotent: does nothing but print
# the versions when the binaries are already there.
#
# Usage: scripts/fetch-prometheus.sh [CACHE_DIR]
#   CACHE_DIR  default: $PROMETHEUS_CACHE_DIR, else $PWD/.cache/prometheus (gitignored)
# The binaries end up in CACHE_DIR/usr/bin; point SCRAPEGUARD_PROMETHEUS_DIR there.
# Exit status: 0 when the three binaries run, non-zero with a message on stderr otherwise.
set -euo pipefail

cache_dir="${1:-${PROMETHEUS_CACHE_DIR:-$PWD/.cache/prometheus}}"
bin_dir="$cache_dir/usr/bin"
packages=(prometheus prometheus-node-exporter)
binaries=(prometheus promtool prometheus-node-exporter)

fail() {
  echo "fetch-prometheus: $*" >&2
  exit 1
}

have_all() {
  local b
  for b in "${binaries[@]}"; do
    [[ -x "$1/$b" ]] || return 1
  done
}

started=$SECONDS
if have_all "$bin_dir"; then
  echo "fetch-prometheus: using cached binaries in $bin_dir"
else
  command -v apt-get >/dev/null || fail "apt-get not found; this script needs a Debian/Ubuntu system (or put the binaries in $bin_dir yourself)"
  command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"

  mkdir -p "$(dirname "$cache_dir")"
  work="$(mktemp -d "$(dirname "$cache_dir")/.fetch-prometheus.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  mkdir "$work/debs" "$work/root"
  # apt-get download drops root privileges to the _apt user; let it write the download dir.
  if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then
    chown _apt "$work/debs"
  fi

  if [[ $EUID -eq 0 ]]; then
    echo "fetch-prometheus: apt-get update"
    apt-get update -qq >"$work/apt-update.log" 2>&1 ||
      { cat "$work/apt-update.log" >&2; fail "apt-get update failed"; }
  else
    echo "fetch-prometheus: not root; skipping apt-get update (using the existing package lists)"
  fi

  echo "fetch-prometheus: apt-get download ${packages[*]}"
  (cd "$work/debs" && apt-get download -q "${packages[@]}") >"$work/apt-download.log" 2>&1 ||
    { cat "$work/apt-download.log" >&2; fail "apt-get download ${packages[*]} failed (no network, or the packages are not in the configured sources?)"; }

  shopt -s nullglob
  debs=("$work"/debs/*.deb)
  (( ${#debs[@]} == ${#packages[@]} )) || fail "expected ${#packages[@]} .deb files, got ${#debs[@]}"
  for deb in "${debs[@]}"; do
    dpkg-deb -x "$deb" "$work/root" || fail "dpkg-deb -x $(basename "$deb") failed"
  done
  have_all "$work/root/usr/bin" || fail "the packages did not contain ${binaries[*]}"

  # Swap the complete tree into place, so an interrupted run never leaves half a cache.
  rm -rf "$cache_dir"
  mv "$work/root" "$cache_dir"
  echo "fetch-prometheus: extracted into $cache_dir in $((SECONDS - started)) s"
fi

for b in "${binaries[@]}"; do
  # Older kingpin versions print --version on stderr.
  output="$("$bin_dir/$b" --version 2>&1)" || fail "$bin_dir/$b does not run: $output"
  echo "fetch-prometheus: $b: ${output%%$'\n'*}"
done
echo "SCRAPEGUARD_PROMETHEUS_DIR=$bin_dir"
