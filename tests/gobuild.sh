# Shell library of the scripts that build the Go programs the tests need
# (tests/*/build.sh): sourced, never run. Each script pins its versions in its
# own go.mod, builds once into its git-ignored bin/ folder, prints progress and
# errors on stderr and its result on the last line of stdout.
#
#   gb_init NAME DIR     the prefix of every message, and the script's folder
#   fail MESSAGE...      print "NAME: error: MESSAGE" and exit 1
#   gb_pinned MODULE [GOMOD]
#                        the version of MODULE that GOMOD (default DIR/go.mod) requires
#   gb_need_go WHAT      check that Go is there (GO=PATH overrides `go`), or fail
#                        saying WHAT needs it; then use the machine's Go as is
#   gb_lock CHECK RESULT one build at a time per checkout: wait for the lock, and
#                        if `CHECK` now succeeds (a concurrent caller built it)
#                        print RESULT and exit 0
#   gb_tmp OUT           a fresh OUT.tmp.PID folder, removed on exit, in $gb_tmp_dir
#   gb_k8s_ldflags VER   the -ldflags that make a Kubernetes binary report VER
#   gb_build DIR PKG OUT WHY [ARGS...]
#                        go build -trimpath ARGS of PKG in module DIR into OUT (a
#                        folder ending in / or a file), at low priority; on failure
#                        fail naming PKG and WHY (what cannot run without it)

gb_init() {
    gb_name=$1
    gb_dir=$2
}

fail() {
    echo "$gb_name: error: $*" >&2
    exit 1
}

gb_pinned() {
    local module=$1 gomod=${2:-$gb_dir/go.mod}
    local escaped=${module//./\\.}
    escaped=${escaped//\//\\/}
    sed -n "s/^[[:space:]]*$escaped \\(v[0-9][^ ]*\\).*/\\1/p" "$gomod" | head -n 1
}

gb_need_go() {
    go=${GO:-go}
    command -v "$go" >/dev/null 2>&1 ||
        fail "Go is not installed (no '$go' on PATH): it is needed once to build $1. Install Go 1.26 or newer."
    # The go.mod files need 1.26; no toolchain download.
    export GOTOOLCHAIN=local
    export CGO_ENABLED=0
    mkdir -p "$gb_dir/bin"
}

gb_lock() {
    exec 9>"$gb_dir/bin/.lock"
    if command -v flock >/dev/null 2>&1; then
        flock 9
        if eval "$1"; then
            echo "$2"
            exit 0
        fi
    fi
}

gb_tmp() {
    gb_tmp_dir="$1.tmp.$$"
    rm -rf "$gb_tmp_dir"
    # shellcheck disable=SC2064 # the folder is fixed now
    trap "rm -rf '$gb_tmp_dir'" EXIT
    mkdir -p "$gb_tmp_dir"
}

gb_k8s_ldflags() {
    local minor=${1#v1.}
    minor=${minor%%.*}
    local flags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$1 -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    echo "$flags"
}

gb_build() {
    local dir=$1 pkg=$2 out=$3 why=$4
    shift 4
    (
        cd "$dir"
        nice -n 10 "$go" build -trimpath "$@" -o "$out" "$pkg"
    ) >&2 || fail "go build $pkg failed (output above); $why"
}
