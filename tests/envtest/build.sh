#!/usr/bin/env bash
# Finds or builds the control plane of the e2e tests (kube-apiserver, etcd,
# kubectl) and prints the folder holding them on the last line of stdout.
#
#   KUBEBUILDER_ASSETS=DIR  use the binaries in DIR (kube-apiserver and etcd,
#                           optionally kubectl) and build nothing
#   otherwise               build the versions pinned in go.mod into
#                           bin/<kubernetes>-etcd-<etcd>/, once
#   GO=PATH                 the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
    echo "envtest: error: $*" >&2
    exit 1
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    for bin in kube-apiserver etcd; do
        [[ -x "$KUBEBUILDER_ASSETS/$bin" ]] ||
            fail "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $bin (it needs kube-apiserver and etcd, optionally kubectl)"
    done
    echo "envtest: using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS (nothing built)" >&2
    echo "$KUBEBUILDER_ASSETS"
    exit 0
fi

# The pinned versions are the ones go.mod requires: one place to change them.
k8s=$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[0-9][^ ]*\).*/\1/p' "$here/go.mod")
etcd=$(sed -n 's/^[[:space:]]*go\.etcd\.io\/etcd\/server\/v3 \(v[0-9][^ ]*\).*/\1/p' "$here/go.mod")
[[ -n "$k8s" && -n "$etcd" ]] || fail "cannot read the k8s.io/kubernetes and etcd versions from $here/go.mod"

out="$here/bin/$k8s-etcd-$etcd"
have_all() { [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; }

if have_all; then
    echo "envtest: Kubernetes $k8s and etcd $etcd already built in $out" >&2
    echo "$out"
    exit 0
fi

go=${GO:-go}
command -v "$go" >/dev/null 2>&1 ||
    fail "Go is not installed (no '$go' on PATH): it is needed once to build kube-apiserver, kubectl ($k8s) and etcd ($etcd) for the e2e tests. Install Go 1.26 or newer, or set KUBEBUILDER_ASSETS to a folder holding kube-apiserver, etcd and kubectl."

# Use the machine's Go as is: go.mod needs 1.26, and no toolchain download.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$here/bin"

# One build at a time per checkout; a second caller waits, then finds the result.
exec 9>"$here/bin/.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
    if have_all; then
        echo "$out"
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
echo "envtest: building kube-apiserver and kubectl $k8s and etcd $etcd with $("$go" version) into $out" >&2
echo "envtest: once per checkout; about 17 minutes on 2 busy cores with an empty Go build cache, seconds from a warm one" >&2
start=$(date +%s)
# One binary at a time, each announced and timed, so that a first run shows
# where it is (the packages they share are compiled once, by the first).
step=0
for pkg in k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3; do
    step=$((step + 1))
    echo "envtest: [$step/3] go build $pkg ..." >&2
    began=$(date +%s)
    (
        cd "$here"
        nice -n 10 "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" "$pkg"
    ) >&2 || fail "go build $pkg failed (output above); the e2e tests cannot run without kube-apiserver, kubectl and etcd"
    echo "envtest: [$step/3] done in $(($(date +%s) - began)) s" >&2
done
# go build names a module's main package after the element before /v3.
mv "$tmp/server" "$tmp/etcd"
# Capture the output before matching: `cmd | grep -q` under pipefail fails at
# random when grep exits on the first match and cmd dies of SIGPIPE writing
# the rest (etcd prints four lines).
version=$("$tmp/kube-apiserver" --version 2>&1) || fail "the built kube-apiserver does not run: $version"
[[ "$version" == *"Kubernetes $k8s"* ]] || fail "the built kube-apiserver does not report $k8s: $version"
version=$("$tmp/etcd" --version 2>&1) || fail "the built etcd does not run: $version"
[[ "$version" == *"etcd Version: ${etcd#v}"* ]] || fail "the built etcd does not report $etcd: $version"
rm -rf "$out"
mv "$tmp" "$out"
echo "envtest: built in $(($(date +%s) - start)) s" >&2
echo "$out"
