#!/usr/bin/env bash
# Finds or builds the helm binaries of the chart tests (helm v3 and helm v4,
# the versions go.mod and v4/go.mod pin) and prints the folder holding them,
# as helm-v3 and helm-v4, on the last line of stdout.
#
#   HELM_BIN_DIR=DIR  use DIR/helm-v3 and DIR/helm-v4 (each must report the
#                     pinned version) and build nothing
#   otherwise         build both into bin/helm-<v3>-<v4>/, once
#   GO=PATH           the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
# Without Go it fails: the chart tests never skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init helm-build "$here"

# The pinned versions are the ones the go.mod files require: one place each.
v3=$(gb_pinned helm.sh/helm/v3)
v4=$(gb_pinned helm.sh/helm/v4 "$here/v4/go.mod")
[[ -n "$v3" && -n "$v4" ]] || fail "cannot read the helm.sh/helm/v3 and /v4 versions from $here/go.mod and $here/v4/go.mod"

# Whether DIR/helm-vN reports VERSION.
reports() {
    local out
    [[ -x "$1/helm-$2" ]] || return 1
    # Captured first: `cmd | grep -q` under pipefail can fail on SIGPIPE.
    out=$("$1/helm-$2" version --template '{{.Version}}' 2>&1) || return 1
    [[ "$out" == "$3" ]]
}
have_all() { reports "$1" v3 "$v3" && reports "$1" v4 "$v4"; }

if [[ -n "${HELM_BIN_DIR:-}" ]]; then
    have_all "$HELM_BIN_DIR" ||
        fail "HELM_BIN_DIR=$HELM_BIN_DIR must hold helm-v3 ($v3) and helm-v4 ($v4), each executable and reporting its version"
    echo "helm-build: using HELM_BIN_DIR=$HELM_BIN_DIR (nothing built)" >&2
    echo "$HELM_BIN_DIR"
    exit 0
fi

out="$here/bin/helm-$v3-$v4"
if have_all "$out"; then
    echo "helm-build: helm $v3 and $v4 already built in $out" >&2
    echo "$out"
    exit 0
fi

gb_need_go "helm $v3 and $v4 for the chart tests (tests/chart.rs, tests/e2e_helm.rs; or set HELM_BIN_DIR to a folder holding helm-v3 and helm-v4)"
gb_lock 'have_all "$out"' "$out"
gb_tmp "$out"
tmp=$gb_tmp_dir
start=$(date +%s)
# build MAJOR VERSION MODULE-DIR
build() {
    local ldflags="-s -w -X helm.sh/helm/$1/internal/version.version=$2 -X helm.sh/helm/$1/internal/version.gitTreeState=clean"
    echo "helm-build: building helm $2 with $("$go" version) into $out (a few minutes the first time)" >&2
    gb_build "$3" "helm.sh/helm/$1/cmd/helm" "$tmp/helm-$1" "the chart tests cannot run without helm $2" -ldflags "$ldflags"
    reports "$tmp" "$1" "$2" ||
        fail "the built helm-$1 does not report $2: $("$tmp/helm-$1" version 2>&1 || true)"
}
build v3 "$v3" "$here"
build v4 "$v4" "$here/v4"
rm -rf "$out"
mv "$tmp" "$out"
echo "helm-build: built in $(($(date +%s) - start)) s" >&2
echo "$out"
