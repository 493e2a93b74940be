#!/usr/bin/env bash
# Finds or builds the helm of the chart tests and prints the folder holding it
# on the last line of stdout.
#
#   HELM_BIN_DIR=DIR  use DIR/helm (it must report the version pinned in
#                     go.mod) and build nothing
#   otherwise         build helm.sh/helm/v3 at the version go.mod pins into
#                     bin/helm-<version>/, once
#   GO=PATH           the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
# Without Go it fails: the chart tests never skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
    echo "helm-build: error: $*" >&2
    exit 1
}

# The pinned version is the one go.mod requires: one place to change it.
helm=$(sed -n 's/^[[:space:]]*helm\.sh\/helm\/v3 \(v[0-9][^ ]*\).*/\1/p' "$here/go.mod")
[[ -n "$helm" ]] || fail "cannot read the helm.sh/helm/v3 version from $here/go.mod"

reports_version() {
    local out
    # Captured first: `cmd | grep -q` under pipefail can fail on SIGPIPE.
    out=$("$1/helm" version --template '{{.Version}}' 2>&1) || return 1
    [[ "$out" == "$helm" ]]
}

if [[ -n "${HELM_BIN_DIR:-}" ]]; then
    [[ -x "$HELM_BIN_DIR/helm" ]] || fail "HELM_BIN_DIR=$HELM_BIN_DIR has no executable helm"
    reports_version "$HELM_BIN_DIR" ||
        fail "HELM_BIN_DIR=$HELM_BIN_DIR/helm does not report $helm: $("$HELM_BIN_DIR/helm" version 2>&1 || true)"
    echo "helm-build: using HELM_BIN_DIR=$HELM_BIN_DIR (nothing built)" >&2
    echo "$HELM_BIN_DIR"
    exit 0
fi

out="$here/bin/helm-$helm"
if [[ -x "$out/helm" ]]; then
    echo "helm-build: helm $helm already built in $out" >&2
    echo "$out"
    exit 0
fi

go=${GO:-go}
command -v "$go" >/dev/null 2>&1 ||
    fail "Go is not installed (no '$go' on PATH): it is needed once to build helm $helm for the chart tests (tests/chart.rs, tests/e2e_helm.rs). Install Go 1.26 or newer, or set HELM_BIN_DIR to a folder holding helm $helm."

# Use the machine's Go as is: go.mod needs 1.26, and no toolchain download.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$here/bin"

# One build at a time per checkout; a second caller waits, then finds the result.
exec 9>"$here/bin/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
    if [[ -x "$out/helm" ]]; then
        echo "$out"
        exit 0
    fi
fi

tmp="$out.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
echo "helm-build: building helm $helm with $("$go" version) into $out (a few minutes the first time)" >&2
start=$(date +%s)
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
(
    cd "$here"
    nice -n 10 "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm
) >&2 || fail "go build failed (output above); the chart tests cannot run without helm"
reports_version "$tmp" ||
    fail "the built helm does not report $helm: $("$tmp/helm" version 2>&1 || true)"
rm -rf "$out"
mv "$tmp" "$out"
echo "helm-build: built in $(($(date +%s) - start)) s" >&2
echo "$out"
