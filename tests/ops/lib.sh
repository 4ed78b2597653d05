# shellcheck shell=bash
# Helpers sourced by the tests/ops/check-*.sh scripts (not run on its own).
#
# Tools are installed on first use: Debian packages with apt-get (as root),
# npm packages into target/ops-tools/node and Python packages into the venv
# target/ops-tools/venv, so later runs find them at once. A tool that cannot be
# had ends the check: with CI=true as a failure (exit 1), otherwise as a loud
# skip (exit 77) that run-all.sh counts separately.

OPS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$OPS_DIR/../.." && pwd)"
TOOLS="$REPO/target/ops-tools"
OPS_NAME="$(basename "$0" .sh)"
mkdir -p "$TOOLS"

# Pinned tool versions (they run on node 20).
NPM_PACKAGES=(
  "@grafana/schema@13.2.3"
  "ts-json-schema-generator@2.4.0"
  "ajv-cli@5.0.0"
  "ajv@8.20.0"
  "kubernetes-models@4.5.1"
  "@kubernetes-models/prometheus-operator@4.4.4"
  "js-yaml@4.1.0"
  "playwright-core@1.64.1"
)
CARGO_DEB_VERSION="3.8.0"
PIP_PACKAGES=(
  "PyYAML==6.0.2"
  "kubernetes-validate==1.30.0"
)

log() { printf '[%s] %s\n' "$OPS_NAME" "$*"; }

fail() {
  printf '[%s] FAIL: %s\n' "$OPS_NAME" "$*" >&2
  exit 1
}

# A required tool is missing and could not be installed.
missing_tool() {
  if [[ "${CI:-}" == "true" ]]; then
    fail "required tool missing: $* (CI=true: a missing tool is a failure)"
  fi
  printf '[%s] SKIP: required tool missing: %s\n' "$OPS_NAME" "$*" >&2
  printf '[%s] SKIP: this check did NOT run; install the tool or run as root to let it install.\n' \
    "$OPS_NAME" >&2
  exit 77
}

_apt_updated=""
apt_install() {
  if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  if [[ -z "$_apt_updated" ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    _apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# need_cmd COMMAND DEBIAN_PACKAGE: make sure COMMAND is on PATH.
need_cmd() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  apt_install "$pkg" || true
  command -v "$cmd" >/dev/null 2>&1 || missing_tool "$cmd (Debian package $pkg)"
}

# Serialises installs into $TOOLS between checks that run at the same time.
lock_tools() {
  exec 9>"$TOOLS/.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
}
unlock_tools() {
  if command -v flock >/dev/null 2>&1; then flock -u 9; fi
  exec 9>&-
}

# installed_as DIR WANT: whether DIR holds exactly the package list WANT.
installed_as() {
  [[ -f "$1/.installed" && "$(cat "$1/.installed")" == "$2" ]]
}

# Installs NPM_PACKAGES into $TOOLS/node; sets NODE_BIN and NODE_PATH.
need_npm_tools() {
  need_cmd node nodejs
  need_cmd npm npm
  lock_tools
  local dir="$TOOLS/node" want
  want="$(printf '%s\n' "${NPM_PACKAGES[@]}")"
  if ! installed_as "$dir" "$want" || [[ ! -d "$dir/node_modules" ]]; then
    log "installing npm packages into ${dir#"$REPO"/}"
    mkdir -p "$dir"
    rm -f "$dir/.installed"
    [[ -f "$dir/package.json" ]] || printf '{"name":"copybench-ops-tools","private":true}\n' >"$dir/package.json"
    if ! (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}" >/dev/null); then
      missing_tool "npm packages ${NPM_PACKAGES[*]}"
    fi
    printf '%s' "$want" >"$dir/.installed"
  fi
  unlock_tools
  # shellcheck disable=SC2034 # used by the sourcing check scripts
  NODE_BIN="$dir/node_modules/.bin"
  export NODE_PATH="$dir/node_modules"
}

# Creates the venv $TOOLS/venv with PIP_PACKAGES; sets VENV_BIN.
need_venv() {
  need_cmd python3 python3
  lock_tools
  local dir="$TOOLS/venv" want
  want="$(printf '%s\n' "${PIP_PACKAGES[@]}")"
  if ! installed_as "$dir" "$want" || [[ ! -x "$dir/bin/python" ]]; then
    log "installing Python packages into ${dir#"$REPO"/}"
    if [[ ! -x "$dir/bin/python" ]]; then
      python3 -m venv "$dir" 2>/dev/null || { apt_install python3-venv || true; python3 -m venv "$dir"; } ||
        missing_tool "python3 venv (Debian package python3-venv)"
    fi
    rm -f "$dir/.installed"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}" ||
      missing_tool "pip packages ${PIP_PACKAGES[*]}"
    printf '%s' "$want" >"$dir/.installed"
  fi
  unlock_tools
  # shellcheck disable=SC2034 # used by the sourcing check scripts
  VENV_BIN="$dir/bin"
}

# need_cargo_tool CRATE VERSION: installs a cargo subcommand with cargo install into
# $TOOLS/cargo and puts it on PATH.
need_cargo_tool() {
  local crate="$1" version="$2" dir="$TOOLS/cargo"
  export PATH="$dir/bin:$PATH"
  lock_tools
  if ! installed_as "$dir/$crate" "$version"; then
    log "cargo install $crate@$version into ${dir#"$REPO"/}"
    mkdir -p "$dir/$crate"
    cargo install --quiet --locked --root "$dir" "$crate@$version" >&2 ||
      missing_tool "$crate $version (cargo install)"
    printf '%s' "$version" >"$dir/$crate/.installed"
  fi
  unlock_tools
}

# Builds the exporter with cargo; sets COPYBENCH_BIN. COPYBENCH_BIN may be set
# by the caller to use an existing binary instead.
need_exporter_binary() {
  if [[ -n "${COPYBENCH_BIN:-}" ]]; then
    [[ -x "$COPYBENCH_BIN" ]] || fail "COPYBENCH_BIN=$COPYBENCH_BIN is not an executable"
    return 0
  fi
  command -v cargo >/dev/null 2>&1 || missing_tool "cargo (Rust toolchain)"
  log "cargo build --bin copybench_exporter"
  (cd "$REPO" && cargo build --quiet --bin copybench_exporter) || fail "cargo build failed"
  COPYBENCH_BIN="$REPO/target/debug/copybench_exporter"
  [[ -x "$COPYBENCH_BIN" ]] || fail "cargo build did not produce $COPYBENCH_BIN"
}

# A private temporary directory, removed on exit after the processes in BACKGROUND are
# stopped.
BACKGROUND=()
make_tmp() {
  OPS_TMP="$(mktemp -d "${TMPDIR:-/tmp}/copybench-ops.XXXXXX")"
  trap stop_background_and_clean EXIT
}

stop_background_and_clean() {
  stop_background
  rm -rf "$OPS_TMP"
}

# Stops the processes in BACKGROUND and waits for them.
stop_background() {
  local pid
  for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BACKGROUND[@]}"; do wait "$pid" 2>/dev/null || true; done
  BACKGROUND=()
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
