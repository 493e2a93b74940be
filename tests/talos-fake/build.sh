#!/usr/bin/env bash
# Builds the Talos API test double of tests/preflight.rs (main.go: the COSI
# state gRPC server of cosi-project/runtime over in-memory state holding Talos's
# own resource types, pkg/machinery at the version go.mod pins) and prints its
# path on the last line of stdout. The binary is kept per machinery version
# and per content of main.go, go.mod and go.sum, so an edit rebuilds it.
#
#   GO=PATH   the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
# Without Go it fails: the preflight tests never skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init talos-fake "$here"

machinery=$(gb_pinned github.com/siderolabs/talos/pkg/machinery)
[[ -n "$machinery" ]] || fail "cannot read the github.com/siderolabs/talos/pkg/machinery version from $here/go.mod"
sum=$(cd "$here" && cat main.go go.mod go.sum | sha256sum | cut -c1-12)

out="$here/bin/$machinery-$sum"
if [[ -x "$out/talos-fake" ]]; then
    echo "talos-fake: Talos machinery $machinery API double already built in $out" >&2
    echo "$out/talos-fake"
    exit 0
fi

gb_need_go "the Talos API test double (Talos's own resource types, pkg/machinery $machinery, behind the COSI gRPC server) that tests/preflight.rs reads nodes from"
gb_lock '[[ -x "$out/talos-fake" ]]' "$out/talos-fake"
gb_tmp "$out"
tmp=$gb_tmp_dir
echo "talos-fake: building with Talos pkg/machinery $machinery and $("$go" version) into $out (1 to 3 minutes the first time)" >&2
start=$(date +%s)
gb_build "$here" . "$tmp/talos-fake" "tests/preflight.rs cannot read a node without it" -ldflags "-s -w"
answer=$("$tmp/talos-fake" 2>&1 </dev/null) && fail "the built double runs without arguments: $answer"
[[ "$answer" == *'usage: talos-fake'* ]] || fail "the built double does not run: $answer"
rm -rf "$out"
mv "$tmp" "$out"
echo "talos-fake: built in $(($(date +%s) - start)) s" >&2
echo "$out/talos-fake"
