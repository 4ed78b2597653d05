#!/usr/bin/env bash
# The Debian package: scripts/build-deb builds it with cargo-deb; it installs with dpkg -i on
# this machine, puts every file where the unit and the README say (the configuration as a
# conffile), its installed configuration passes check-config, and it is removed cleanly
# (dpkg -r keeps the conffile, dpkg -P removes it). Prints its size. Needs root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd help2man help2man
need_cmd dpkg dpkg
[[ "$(id -u)" == 0 ]] || missing_tool "root (dpkg -i installs the package on this machine)"
need_cargo_tool cargo-deb "$CARGO_DEB_VERSION"
make_tmp

PACKAGE=copybench-exporter
# An installation this check did not make is left alone: refused before the trap that purges.
dpkg -s "$PACKAGE" >/dev/null 2>&1 && fail "$PACKAGE is already installed here; remove it first"
purge() { dpkg -P "$PACKAGE" >/dev/null 2>&1 || true; }
trap 'purge; stop_background_and_clean' EXIT

log "scripts/build-deb"
DEB="$("$REPO/scripts/build-deb")" || fail "scripts/build-deb failed"
[[ -f "$DEB" ]] || fail "no package at '$DEB'"
log "  $(basename "$DEB"): $(($(stat -c %s "$DEB") / 1024)) KiB"

log "dpkg -i"
dpkg -i "$DEB" >"$OPS_TMP/dpkg.log" 2>&1 || { cat "$OPS_TMP/dpkg.log" >&2; fail "dpkg -i failed"; }
for file in /usr/bin/copybench_exporter /etc/copybench_exporter/copybench.toml \
  /lib/systemd/system/copybench_exporter.service /usr/share/man/man1/copybench_exporter.1.gz \
  /usr/share/copybench_exporter/dashboards/copybench-overview.json \
  /usr/share/copybench_exporter/prometheus/copybench.rules.yml \
  /usr/share/doc/copybench_exporter/README.md; do
  [[ -f "$file" ]] || fail "$file is not installed"
  dpkg -S "$file" >/dev/null 2>&1 || fail "$file does not belong to the package"
done
dpkg-query -W -f='${Conffiles}\n' "$PACKAGE" | grep -q '/etc/copybench_exporter/copybench.toml' ||
  fail "the configuration is not a conffile"
UNIT=/lib/systemd/system/copybench_exporter.service
EXEC="$(sed -n 's/^ExecStart=\([^ ]*\) --config.file=\([^ ]*\).*/\1 \2/p' "$UNIT")"
read -r BIN CONF <<<"$EXEC"
[[ -x "$BIN" && -f "$CONF" ]] || fail "the unit's ExecStart ($EXEC) does not name the installed files"
"$BIN" check-config "$CONF" >/dev/null || fail "check-config rejects the installed configuration"
"$BIN" --version | grep -q "$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)" ||
  fail "the installed binary has another version"
zcat /usr/share/man/man1/copybench_exporter.1.gz | grep -q 'web.*config.file' ||
  fail "the man page lacks the flags"
log "  files in place, conffile marked, the unit's binary and configuration check out"

log "dpkg -r, then dpkg -P"
dpkg -r "$PACKAGE" >/dev/null || fail "dpkg -r failed"
[[ ! -e /usr/bin/copybench_exporter ]] || fail "dpkg -r left the binary"
[[ -f /etc/copybench_exporter/copybench.toml ]] || fail "dpkg -r removed the conffile"
dpkg -P "$PACKAGE" >/dev/null || fail "dpkg -P failed"
[[ ! -e /etc/copybench_exporter/copybench.toml ]] || fail "dpkg -P left the conffile"
! dpkg -s "$PACKAGE" >/dev/null 2>&1 || fail "the package is still known to dpkg"
log "OK"
