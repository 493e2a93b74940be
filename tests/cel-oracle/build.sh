#!/usr/bin/env bash
# Builds the CEL oracle of tests/cel_oracle.rs (main.go, with Kubernetes' own
# ValidatingAdmissionPolicy plugin from k8s.io/apiserver at the version go.mod
# pins) and prints its path on the last line of stdout. The binary is kept per
# apiserver version and per content of main.go, go.mod and go.sum.
#
#   GO=PATH   the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
# Without Go it fails: the differential test never skips.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init cel-oracle "$here"

apiserver=$(gb_pinned k8s.io/apiserver)
[[ -n "$apiserver" ]] || fail "cannot read the k8s.io/apiserver version from $here/go.mod"
sum=$(cd "$here" && cat main.go go.mod go.sum | sha256sum | cut -c1-12)

out="$here/bin/$apiserver-$sum"
if [[ -x "$out/cel-oracle" ]]; then
    echo "cel-oracle: k8s.io/apiserver $apiserver oracle already built in $out" >&2
    echo "$out/cel-oracle"
    exit 0
fi

gb_need_go "the CEL oracle (Kubernetes' own admission policy code, k8s.io/apiserver $apiserver) that tests/cel_oracle.rs compares the generated policies with"
gb_lock '[[ -x "$out/cel-oracle" ]]' "$out/cel-oracle"
gb_tmp "$out"
tmp=$gb_tmp_dir
echo "cel-oracle: building with k8s.io/apiserver $apiserver and $("$go" version) into $out" >&2
start=$(date +%s)
gb_build "$here" . "$tmp/cel-oracle" "tests/cel_oracle.rs cannot compare the CEL policies with Kubernetes without it" -ldflags "-s -w"
answer=$(echo '{"objects":[],"namespaces":[],"requests":[]}' | "$tmp/cel-oracle" 2>&1) ||
    fail "the built oracle does not run: $answer"
rm -rf "$out"
mv "$tmp" "$out"
echo "cel-oracle: built in $(($(date +%s) - start)) s" >&2
echo "$out/cel-oracle"
