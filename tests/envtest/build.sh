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
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init envtest "$here"

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
k8s=$(gb_pinned k8s.io/kubernetes)
etcd=$(gb_pinned go.etcd.io/etcd/server/v3)
[[ -n "$k8s" && -n "$etcd" ]] || fail "cannot read the k8s.io/kubernetes and etcd versions from $here/go.mod"

out="$here/bin/$k8s-etcd-$etcd"
have_all() { [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; }

if have_all; then
    echo "envtest: Kubernetes $k8s and etcd $etcd already built in $out" >&2
    echo "$out"
    exit 0
fi

gb_need_go "kube-apiserver, kubectl ($k8s) and etcd ($etcd) for the e2e tests (or set KUBEBUILDER_ASSETS to a folder holding kube-apiserver, etcd and kubectl)"
gb_lock have_all "$out"
ldflags=$(gb_k8s_ldflags "$k8s")
gb_tmp "$out"
tmp=$gb_tmp_dir
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
    gb_build "$here" "$pkg" "$tmp/" "the e2e tests cannot run without kube-apiserver, kubectl and etcd" -ldflags "$ldflags"
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
