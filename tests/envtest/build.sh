#!/usr/bin/env bash
# Finds or builds the control plane of the e2e tests (kube-apiserver, etcd,
# kubectl) and prints the folder holding them on the last line of stdout.
#
#   build.sh [MODULE]       MODULE: the folder whose go.mod pins the versions
#                           (default: this one, the newest Kubernetes; the
#                           older minor's tests/envtest-1.34/build.sh passes
#                           its own folder)
#   KUBEBUILDER_ASSETS=DIR  use the binaries in DIR (kube-apiserver and etcd,
#                           optionally kubectl) and build nothing; for the
#                           1.34 module the variable is KUBEBUILDER_ASSETS_1_34
#                           (one folder cannot hold two versions)
#   otherwise               build the versions pinned in MODULE/go.mod into
#                           MODULE/bin/<kubernetes>-etcd-<etcd>/, once
#   GO=PATH                 the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
module=$here
if [[ $# -gt 0 ]]; then
    module=$(cd "$1" && pwd) || { echo "$name: error: no module folder $1" >&2; exit 1; }
fi
name=$(basename "$module")
gb_init "$name" "$module"
[[ -f "$module/go.mod" ]] || fail "$module has no go.mod pinning the control plane's versions"

# The variable that names a folder of ready binaries for this module.
assets_var=KUBEBUILDER_ASSETS
[[ "$name" == envtest ]] || assets_var=KUBEBUILDER_ASSETS_$(echo "${name#envtest-}" | tr . _)
assets=${!assets_var:-}
if [[ -n "$assets" ]]; then
    for bin in kube-apiserver etcd; do
        [[ -x "$assets/$bin" ]] ||
            fail "$assets_var=$assets has no executable $bin (it needs kube-apiserver and etcd, optionally kubectl)"
    done
    echo "$name: using $assets_var=$assets (nothing built)" >&2
    echo "$assets"
    exit 0
fi

# The pinned versions are the ones go.mod requires: one place to change them.
k8s=$(gb_pinned k8s.io/kubernetes)
etcd=$(gb_pinned go.etcd.io/etcd/server/v3)
[[ -n "$k8s" && -n "$etcd" ]] || fail "cannot read the k8s.io/kubernetes and etcd versions from $module/go.mod"

out="$module/bin/$k8s-etcd-$etcd"
have_all() { [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; }

if have_all; then
    echo "$name: Kubernetes $k8s and etcd $etcd already built in $out" >&2
    echo "$out"
    exit 0
fi

gb_need_go "kube-apiserver, kubectl ($k8s) and etcd ($etcd) for the e2e tests (or set $assets_var to a folder holding kube-apiserver, etcd and kubectl)"
gb_lock have_all "$out"
ldflags=$(gb_k8s_ldflags "$k8s")
gb_tmp "$out"
tmp=$gb_tmp_dir
echo "$name: building kube-apiserver and kubectl $k8s and etcd $etcd with $("$go" version) into $out" >&2
echo "$name: once per checkout; about 17 minutes on 2 busy cores with an empty Go build cache, seconds from a warm one" >&2
start=$(date +%s)
# One binary at a time, each announced and timed, so that a first run shows
# where it is (the packages they share are compiled once, by the first).
step=0
for pkg in k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3; do
    step=$((step + 1))
    echo "$name: [$step/3] go build $pkg ..." >&2
    began=$(date +%s)
    gb_build "$module" "$pkg" "$tmp/" "the e2e tests cannot run without kube-apiserver, kubectl and etcd" -ldflags "$ldflags"
    echo "$name: [$step/3] done in $(($(date +%s) - began)) s" >&2
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
echo "$name: built in $(($(date +%s) - start)) s" >&2
echo "$out"
