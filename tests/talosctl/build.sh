#!/usr/bin/env bash
# Builds talosctl (siderolabs/talos cmd/talosctl at the version go.mod pins,
# the Talos of the API double in tests/talos-fake/) for tests/preflight.rs,
# which holds the guard's parsed facts equal to what `talosctl get -o yaml`
# prints, and prints its path on the last line of stdout. Kept per Talos
# version and per content of go.mod and go.sum. About 10 minutes the first
# time on 2 cores (most of Talos's client dependencies).
#
#   GO=PATH   the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
# Without Go it fails: the agreement test never skips.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init talosctl "$here"

# Its tag comes from Talos's generated gendata: no -ldflags needed.
smoke() {
    local answer version
    version=$(gb_pinned github.com/siderolabs/talos)
    answer=$("$1" version --client --short 2>&1) || fail "the built talosctl does not run: $answer"
    # It prints "Client:" then "Talos <tag>" on a line of its own.
    [[ "$answer" == *"Talos $version"* ]] || fail "the built talosctl does not report $version: $answer"
}

gb_main_program github.com/siderolabs/talos \
    "talosctl, Talos's own client" \
    "tests/preflight.rs cannot compare the guard with talosctl" \
    smoke github.com/siderolabs/talos/cmd/talosctl
