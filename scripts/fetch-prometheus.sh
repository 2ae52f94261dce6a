#!/usr/bin/env bash
# Fetches real Prometheus binaries (prometheus, promtool, prometheus-node-exporter) for the
# end-to-end tests, from the distribution's packages, without installing them system-wide:
# `apt-get download` + `dpkg-deb -x` into a cache directory. Two sets:
#   - the configured distribution's (Debian bookworm: prometheus 2.42, node_exporter 1.5);
#   - Debian sid's (prometheus/promtool 3.5.x, node_exporter 1.11.x), through a private apt state
#     (its own sources, lists and cache; the system's apt configuration is never modified) whose
#     one .sources file reuses the Debian archive URI already configured in /etc/apt.
# Idempotent: does nothing but print the versions when the binaries are already there.
#
# Usage: scripts/fetch-prometheus.sh [CACHE_DIR]
#   CACHE_DIR  default: $PROMETHEUS_CACHE_DIR, else $PWD/.cache/prometheus (gitignored)
#   sid set:   $PROMETHEUS3_CACHE_DIR, else $PWD/.cache/prometheus3
# The binaries end up in CACHE_DIR/usr/bin and PROMETHEUS3_CACHE_DIR/usr/bin; point
# SCRAPEGUARD_PROMETHEUS_DIR and SCRAPEGUARD_PROMETHEUS3_DIR there.
# Exit status: 0 when all six binaries run (the sid ones at the expected versions), non-zero with
# a message on stderr otherwise.
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

# Temporary directories removed on exit, whatever the outcome.
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT

started=$SECONDS
if have_all "$bin_dir"; then
  echo "fetch-prometheus: using cached binaries in $bin_dir"
else
  command -v apt-get >/dev/null || fail "apt-get not found; this script needs a Debian/Ubuntu system (or put the binaries in $bin_dir yourself)"
  command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"

  mkdir -p "$(dirname "$cache_dir")"
  work="$(mktemp -d "$(dirname "$cache_dir")/.fetch-prometheus.XXXXXX")"
  cleanup+=("$work")
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

# ---- Debian sid: Prometheus 3.5.x and node_exporter 1.11.x (REFERENCE.md §5) ----------------
sid_cache_dir="${PROMETHEUS3_CACHE_DIR:-$PWD/.cache/prometheus3}"
sid_bin_dir="$sid_cache_dir/usr/bin"
# The e2e suites name these versions; a sid that moved on must be noticed, not used silently.
declare -A sid_expected=([prometheus]='3.5.' [promtool]='3.5.' [prometheus-node-exporter]='1.11.')
# In sid, promtool is a package of its own (bookworm ships it inside prometheus).
sid_packages=(prometheus promtool prometheus-node-exporter)

# Prints the first Debian archive URI (and its Signed-By, tab-separated) configured for a
# non-security suite with the main component, from the deb822 .sources files and one-line .list
# files apt reads. Read only: the system's configuration is used as a hint, never changed.
debian_archive() {
  local f
  {
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; comps = ""; types = ""; signed = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          else if ($i ~ /^Suites:/) { suites = $i }
          else if ($i ~ /^Components:/) { comps = $i }
          else if ($i ~ /^Types:/) { types = $i }
          else if ($i ~ /^Signed-By:/) { signed = $i; sub(/^Signed-By:[ \t]*/, "", signed) }
        }
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && comps ~ /[ \t]main([ \t]|$)/ && suites !~ /security/ && uris != "") {
          split(uris, u, /[ \t]+/); print u[1] "\t" signed; exit
        }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    awk '$1 == "deb" && $0 !~ /security/ && $0 ~ /[ \t]main([ \t]|$)/ {
      for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i "\t"; exit }
    }' "$f"
  done
  } | head -n 1 || true
}

sid_versions_ok() {
  local b output
  for b in "${!sid_expected[@]}"; do
    [[ -x "$1/$b" ]] || return 1
    output="$("$1/$b" --version 2>&1)" || return 1
    [[ "$output" == *"version ${sid_expected[$b]}"* ]] || return 1
  done
}

started=$SECONDS
if sid_versions_ok "$sid_bin_dir"; then
  echo "fetch-prometheus: using cached sid binaries in $sid_bin_dir"
else
  command -v apt-get >/dev/null || fail "apt-get not found; put prometheus, promtool and prometheus-node-exporter from Debian sid in $sid_bin_dir yourself"
  archive="$(debian_archive)"
  [[ -n "$archive" ]] || fail "no Debian archive URI with the main component is configured in /etc/apt; cannot fetch the sid packages"
  archive_uri="${archive%%$'\t'*}"
  signed_by="${archive#*$'\t'}"

  mkdir -p "$(dirname "$sid_cache_dir")"
  sid_work="$(mktemp -d "$(dirname "$sid_cache_dir")/.fetch-prometheus3.XXXXXX")"
  cleanup+=("$sid_work")
  state="$sid_work/apt"
  mkdir -p "$state/parts" "$state/lists/partial" "$state/cache/archives/partial" "$sid_work/debs" "$sid_work/root"
  {
    echo "Types: deb"
    echo "URIs: $archive_uri"
    echo "Suites: sid"
    echo "Components: main"
    [[ -n "$signed_by" ]] && echo "Signed-By: $signed_by"
  } >"$state/parts/sid.sources"
  # apt drops root privileges to _apt for downloads; let it write the private state.
  if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then
    chown -R _apt "$state/lists" "$state/cache" "$sid_work/debs"
  fi
  apt_private=(
    -o Dir::Etc::SourceList=/dev/null
    -o "Dir::Etc::SourceParts=$state/parts"
    -o "Dir::State::Lists=$state/lists"
    -o "Dir::Cache=$state/cache"
  )

  echo "fetch-prometheus: apt-get update (private state, $archive_uri sid)"
  apt-get "${apt_private[@]}" update -qq >"$sid_work/apt-update.log" 2>&1 ||
    { cat "$sid_work/apt-update.log" >&2; fail "apt-get update of $archive_uri sid failed"; }

  echo "fetch-prometheus: apt-get download ${sid_packages[*]} (sid)"
  (cd "$sid_work/debs" && apt-get "${apt_private[@]}" download -q "${sid_packages[@]}") >"$sid_work/apt-download.log" 2>&1 ||
    { cat "$sid_work/apt-download.log" >&2; fail "apt-get download from sid failed"; }

  shopt -s nullglob
  sid_debs=("$sid_work"/debs/*.deb)
  (( ${#sid_debs[@]} == ${#sid_packages[@]} )) || fail "expected ${#sid_packages[@]} .deb files from sid, got ${#sid_debs[@]}"
  for deb in "${sid_debs[@]}"; do
    dpkg-deb -x "$deb" "$sid_work/root" || fail "dpkg-deb -x $(basename "$deb") failed"
  done
  if ! sid_versions_ok "$sid_work/root/usr/bin"; then
    for b in "${!sid_expected[@]}"; do
      echo "fetch-prometheus: sid $b: $("$sid_work/root/usr/bin/$b" --version 2>&1 | head -n 1 || true) (expected ${sid_expected[$b]}x)" >&2
    done
    fail "Debian sid no longer carries the expected versions; update sid_expected and the e2e suites together"
  fi

  rm -rf "$sid_cache_dir"
  mv "$sid_work/root" "$sid_cache_dir"
  echo "fetch-prometheus: extracted sid binaries into $sid_cache_dir in $((SECONDS - started)) s"
fi

for b in prometheus promtool prometheus-node-exporter; do
  output="$("$sid_bin_dir/$b" --version 2>&1)" || fail "$sid_bin_dir/$b does not run: $output"
  echo "fetch-prometheus: sid $b: ${output%%$'\n'*}"
done
echo "SCRAPEGUARD_PROMETHEUS3_DIR=$sid_bin_dir"
