#!/usr/bin/env bash
# Finds or builds the second control plane of the e2e tests: kube-apiserver,
# kubectl and etcd of Kubernetes 1.34 (Longhorn 1.13's oldest supported
# minor), pinned in this folder's go.mod, by the same script as the newest
# (tests/envtest/build.sh; its header lists the options). Ready binaries:
# KUBEBUILDER_ASSETS_1_34=DIR. Prints the folder on the last line of stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/../envtest/build.sh" "$here"
