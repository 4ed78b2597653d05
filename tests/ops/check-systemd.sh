#!/usr/bin/env bash
# systemd unit (systemd/copybench_exporter.service):
#   - systemd-analyze verify --man=no prints nothing (ExecStart pointed at a
#     freshly built binary in a temporary copy of the unit)
#   - systemd-analyze security --offline=true: exposure at most 2.0
#   - the settings the exporter depends on are present, no .socket unit ships,
#     and the binary accepts the flags of ExecStart
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MAX_EXPOSURE="2.0"
UNIT_NAME="copybench_exporter.service"
UNIT="$REPO/systemd/$UNIT_NAME"
[[ -f "$UNIT" ]] || fail "systemd/$UNIT_NAME is missing"

need_cmd systemd-analyze systemd
need_exporter_binary
make_tmp

# --- settings -----------------------------------------------------------------
log "unit settings"
setting() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }
expect() {
  local key="$1" want="$2" got
  got="$(setting "$key")"
  [[ "$got" == "$want" ]] || fail "$key=$got, expected $key=$want"
}
expect ExecStart "/usr/bin/copybench_exporter --config.file=/etc/copybench_exporter/copybench.toml"
expect DynamicUser yes
expect StateDirectory copybench_exporter
expect ConfigurationDirectory copybench_exporter
expect Restart on-failure
expect NoNewPrivileges yes
expect ProtectSystem strict
expect CapabilityBoundingSet ""
stop="$(setting TimeoutStopSec)"
[[ "$stop" =~ ^([0-9]+)s?$ ]] || fail "TimeoutStopSec=$stop is not a number of seconds"
((BASH_REMATCH[1] > 30)) || fail "TimeoutStopSec=$stop must exceed the 30s shutdown grace period"
# shellcheck disable=SC2016 # $MAINPID is literal text in the unit
grep -Eq '^ExecReload=.*kill -HUP \$MAINPID' "$UNIT" || fail "ExecReload does not send SIGHUP"
if grep -Eq '^(ProcSubset=pid|PrivateNetwork=yes|IPAddressDeny=any|RestrictAddressFamilies=none)' "$UNIT"; then
  fail "the unit blocks /proc/stat or the network the exporter needs"
fi
filter="$(sed -n 's/^SystemCallFilter=//p' "$UNIT" | tr '\n' ' ')"
[[ "$filter" == *"@system-service"* ]] || fail "SystemCallFilter does not start from @system-service"
shopt -s nullglob
sockets=("$REPO"/systemd/*.socket)
[[ ${#sockets[@]} -eq 0 ]] || fail "the exporter has no socket activation, yet ${sockets[*]} exists"

log "ExecStart flags are accepted by the binary"
read -r -a exec_args <<<"$(setting ExecStart)"
"$COPYBENCH_BIN" "${exec_args[@]:1}" --help >"$OPS_TMP/help.log" 2>&1 ||
  { cat "$OPS_TMP/help.log" >&2; fail "copybench_exporter rejects the ExecStart arguments ${exec_args[*]:1}"; }

# --- systemd-analyze ------------------------------------------------------------
sed "s#^ExecStart=/usr/bin/copybench_exporter #ExecStart=$COPYBENCH_BIN #" "$UNIT" >"$OPS_TMP/$UNIT_NAME"
grep -q "^ExecStart=$COPYBENCH_BIN " "$OPS_TMP/$UNIT_NAME" || fail "could not point ExecStart at $COPYBENCH_BIN"

log "systemd-analyze verify --man=no"
if ! systemd-analyze verify --man=no "$OPS_TMP/$UNIT_NAME" >"$OPS_TMP/verify.log" 2>&1; then
  cat "$OPS_TMP/verify.log" >&2
  fail "systemd-analyze verify failed"
fi
if [[ -s "$OPS_TMP/verify.log" ]]; then
  cat "$OPS_TMP/verify.log" >&2
  fail "systemd-analyze verify printed warnings"
fi

log "systemd-analyze security --offline=true"
threshold="$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 }')"
set +e
systemd-analyze security --offline=true --threshold="$threshold" "$OPS_TMP/$UNIT_NAME" >"$OPS_TMP/security.log" 2>&1
rc=$?
set -e
exposure="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$OPS_TMP/security.log")"
[[ -n "$exposure" ]] || { cat "$OPS_TMP/security.log" >&2; fail "no exposure level in systemd-analyze security output"; }
grep '✗' "$OPS_TMP/security.log" | sed 's/  */ /g' | sed "s/^/[$OPS_NAME]   /" || true
if [[ $rc -ne 0 ]] || awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e > m) }'; then
  fail "exposure level $exposure is above $MAX_EXPOSURE"
fi
log "exposure level $exposure (at most $MAX_EXPOSURE)"

log "OK"
