#!/usr/bin/env bash
# Builds the Go oracle of tests/gojson.rs (main.go: Go's encoding/json,
# strings.ToLower and gopkg.in/yaml.v2 as longhorn-manager uses them) and
# prints its path on the last line of stdout.
#
#   GO=PATH   the go command to build with (default: go)
#
# Progress and errors go to stderr; the exit status is non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
gb_init gojson-oracle "$here"

# Rebuilt when main.go or go.mod changes: the binary's name carries their hash.
sum=$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)
out="$here/bin/gojson-oracle-$sum"
if [[ -x "$out" ]]; then
    echo "gojson-oracle: already built in $out" >&2
    echo "$out"
    exit 0
fi

gb_need_go "the Go oracle of tests/gojson.rs (Go's encoding/json as longhorn-manager decodes its annotation)"
gb_lock '[[ -x "$out" ]]' "$out"
gb_tmp "$out"
echo "gojson-oracle: building with $("$go" version) into $out" >&2
gb_build "$here" . "$gb_tmp_dir/gojson-oracle" "tests/gojson.rs cannot compare the guard's reader with Go without it" -ldflags "-s -w"
mv "$gb_tmp_dir/gojson-oracle" "$out"
echo "$out"
