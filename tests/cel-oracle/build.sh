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

smoke() {
    local answer
    answer=$(echo '{"objects":[],"namespaces":[],"requests":[]}' | "$1" 2>&1) ||
        fail "the built oracle does not run: $answer"
}

gb_main_program k8s.io/apiserver \
    "the CEL oracle, Kubernetes' own admission policy code" \
    "tests/cel_oracle.rs cannot compare the CEL policies with Kubernetes" \
    smoke
