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

fail() {
    echo "kubectl-old: error: $*" >&2
    exit 1
}

# The pinned version is the one go.mod requires: one place to change it.
k8s=$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[0-9][^ ]*\).*/\1/p' "$here/go.mod")
[[ -n "$k8s" ]] || fail "cannot read the k8s.io/kubernetes version from $here/go.mod"

out="$here/bin/$k8s"
if [[ -x "$out/kubectl" ]]; then
    echo "kubectl-old: kubectl $k8s already built in $out" >&2
    echo "$out/kubectl"
    exit 0
fi

go=${GO:-go}
command -v "$go" >/dev/null 2>&1 ||
    fail "Go is not installed (no '$go' on PATH): it is needed once to build kubectl $k8s, the oldest kubectl the manifests are tested with. Install Go 1.26 or newer."

# Use the machine's Go as is, and no toolchain download.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$here/bin"

# One build at a time per checkout; a second caller waits, then finds the result.
exec 9>"$here/bin/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
    if [[ -x "$out/kubectl" ]]; then
        echo "$out/kubectl"
        exit 0
    fi
fi

minor=${k8s#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

tmp="$out.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
echo "kubectl-old: building kubectl $k8s with $("$go" version) into $out (about 2 minutes the first time)" >&2
start=$(date +%s)
(
    cd "$here"
    nice -n 10 "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" k8s.io/kubernetes/cmd/kubectl
) >&2 || fail "go build failed (output above); tests/manifests.rs cannot render with the oldest supported kubectl without it"
version=$("$tmp/kubectl" version --client 2>&1) || fail "the built kubectl does not run: $version"
[[ "$version" == *"Client Version: $k8s"* ]] || fail "the built kubectl does not report $k8s: $version"
rm -rf "$out"
mv "$tmp" "$out"
echo "kubectl-old: built kubectl $k8s in $(($(date +%s) - start)) s" >&2
echo "$out/kubectl"
