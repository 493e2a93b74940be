#!/usr/bin/env bash
# Builds the Talos oracle of tests/talos_oracle.rs (main.go, with Talos's own
# pkg/machinery at the version go.mod pins) and prints its path on the last
# line of stdout. The binary is kept per machinery version and per content of
# main.go, go.mod and go.sum, so an edit of the oracle rebuilds it.
#
#   GO=PATH   the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
# Without Go it fails: the differential test never skips.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init talos-oracle "$here"

machinery=$(gb_pinned github.com/siderolabs/talos/pkg/machinery)
[[ -n "$machinery" ]] || fail "cannot read the github.com/siderolabs/talos/pkg/machinery version from $here/go.mod"
sum=$(cd "$here" && cat main.go go.mod go.sum | sha256sum | cut -c1-12)

out="$here/bin/$machinery-$sum"
if [[ -x "$out/talos-oracle" ]]; then
    echo "talos-oracle: Talos machinery $machinery oracle already built in $out" >&2
    echo "$out/talos-oracle"
    exit 0
fi

gb_need_go "the Talos oracle (Talos's own config code, pkg/machinery $machinery) that tests/talos_oracle.rs compares the merge with"
gb_lock '[[ -x "$out/talos-oracle" ]]' "$out/talos-oracle"
gb_tmp "$out"
tmp=$gb_tmp_dir
echo "talos-oracle: building with Talos pkg/machinery $machinery and $("$go" version) into $out (1 to 3 minutes the first time)" >&2
start=$(date +%s)
gb_build "$here" . "$tmp/talos-oracle" "tests/talos_oracle.rs cannot compare the merge with Talos without it" -ldflags "-s -w"
answer=$(echo '{"op":"generate","contract":"1.14","machine":"worker"}' | "$tmp/talos-oracle" 2>&1) ||
    fail "the built oracle does not run: $answer"
[[ "$answer" == *'"yaml":"version: v1alpha1'* ]] || fail "the built oracle does not generate a config: $answer"
rm -rf "$out"
mv "$tmp" "$out"
echo "talos-oracle: built in $(($(date +%s) - start)) s" >&2
echo "$out/talos-oracle"
