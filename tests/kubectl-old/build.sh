#!/usr/bin/env bash
# Builds the oldest kubectl the manifests support (pinned in go.mod: the
# k8s.io/kubernetes release of the oldest Kubernetes minor Talos still ships)
# and prints its path on the last line of stdout. tests/manifests.rs renders
# every kustomization with it and with the newest kubectl (tests/envtest/).
#
#   GO=PATH   the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init kubectl-old "$here"

# The pinned version is the one go.mod requires: one place to change it.
k8s=$(gb_pinned k8s.io/kubernetes)
[[ -n "$k8s" ]] || fail "cannot read the k8s.io/kubernetes version from $here/go.mod"

out="$here/bin/$k8s"
if [[ -x "$out/kubectl" ]]; then
    echo "kubectl-old: kubectl $k8s already built in $out" >&2
    echo "$out/kubectl"
    exit 0
fi

gb_need_go "kubectl $k8s, the oldest kubectl the manifests are tested with"
gb_lock '[[ -x "$out/kubectl" ]]' "$out/kubectl"
ldflags=$(gb_k8s_ldflags "$k8s")
gb_tmp "$out"
tmp=$gb_tmp_dir
echo "kubectl-old: building kubectl $k8s with $("$go" version) into $out (about 2 minutes the first time)" >&2
start=$(date +%s)
gb_build "$here" k8s.io/kubernetes/cmd/kubectl "$tmp/" "tests/manifests.rs cannot render with the oldest supported kubectl without it" -ldflags "$ldflags"
version=$("$tmp/kubectl" version --client 2>&1) || fail "the built kubectl does not run: $version"
[[ "$version" == *"Client Version: $k8s"* ]] || fail "the built kubectl does not report $k8s: $version"
rm -rf "$out"
mv "$tmp" "$out"
echo "kubectl-old: built kubectl $k8s in $(($(date +%s) - start)) s" >&2
echo "$out/kubectl"
