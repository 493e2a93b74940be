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

smoke() {
    local answer
    answer=$(echo '{"op":"generate","contract":"1.14","machine":"worker"}' | "$1" 2>&1) ||
        fail "the built oracle does not run: $answer"
    [[ "$answer" == *'"yaml":"version: v1alpha1'* ]] || fail "the built oracle does not generate a config: $answer"
}

gb_main_program github.com/siderolabs/talos/pkg/machinery \
    "the Talos oracle, Talos's own config code" \
    "tests/talos_oracle.rs cannot compare the merge with Talos" \
    smoke
