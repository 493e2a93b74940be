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

smoke() {
    local answer
    answer=$("$1" 2>&1 </dev/null) && fail "the built double runs without arguments: $answer"
    [[ "$answer" == *'usage: talos-fake'* ]] || fail "the built double does not run: $answer"
}

gb_main_program github.com/siderolabs/talos/pkg/machinery \
    "the Talos API test double, Talos's own resource types behind the COSI gRPC server" \
    "tests/preflight.rs cannot read a node" \
    smoke
