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
#   gb_main_program MODULE WHAT WHY SMOKE [PKG]
#                        the whole build of a one-file test program (DIR/main.go),
#                        or of the package PKG of a module DIR/go.mod requires:
#                        kept in bin/<MODULE's pinned version>-<hash of main.go,
#                        go.mod, go.sum>/NAME, so an edit rebuilds it; built once,
#                        then checked by the shell function SMOKE (given the new
#                        binary; it calls fail when the binary does not work);
#                        WHAT names the program in messages, WHY says which test
#                        cannot run without it; prints the binary's path
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

gb_main_program() {
    local module=$1 what=$2 why=$3 smoke=$4 pkg=${5:-.}
    local version sum out start
    version=$(gb_pinned "$module")
    [[ -n "$version" ]] || fail "cannot read the $module version from $gb_dir/go.mod"
    sum=$(cd "$gb_dir" && cat $([[ "$pkg" != . ]] || echo main.go) go.mod go.sum | sha256sum | cut -c1-12)
    out="$gb_dir/bin/$version-$sum"
    if [[ -x "$out/$gb_name" ]]; then
        echo "$gb_name: $what, at $module $version, already built in $out" >&2
        echo "$out/$gb_name"
        exit 0
    fi
    gb_need_go "$what, at $module $version (without it $why)"
    gb_lock "[[ -x '$out/$gb_name' ]]" "$out/$gb_name"
    gb_tmp "$out"
    echo "$gb_name: building with $module $version and $("$go" version) into $out (1 to 3 minutes the first time)" >&2
    start=$(date +%s)
    gb_build "$gb_dir" "$pkg" "$gb_tmp_dir/$gb_name" "$why without it" -ldflags "-s -w"
    "$smoke" "$gb_tmp_dir/$gb_name"
    rm -rf "$out"
    mv "$gb_tmp_dir" "$out"
    echo "$gb_name: built in $(($(date +%s) - start)) s" >&2
    echo "$out/$gb_name"
}
