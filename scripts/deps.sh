#!/usr/bin/env bash
# Install the Debian packages halo needs, only when some are missing.
#
#   scripts/deps.sh        packages to build, test and run halo
#   scripts/deps.sh --ci   the above plus CI's tools (formatter, linters, aarch64 cross + qemu,
#                          Node.js with npm and the @huggingface/gguf parser of
#                          tests/test_gguf_npm.sh, installed in $HALO_NPM_DIR)
#
# Quiet when everything is already there. Runs apt-get update only when it has to install.
# Needs root, or sudo; without either it names the missing packages and exits 1.
set -euo pipefail

BASE_PKGS=(
    build-essential cmake pkg-config
    libsqlite3-dev sqlite3
    libyaml-dev libgsl-dev libglpk-dev
    gnuplot-nox libsodium-dev zlib1g-dev libxxhash-dev
    # the optional ns-3 backend (sim/ns3/, docs/ns3.md); halo builds without it
    libns3-dev
    openmpi-bin # mpirun: the multi-machine sweep launch and its two-rank test
)
CI_PKGS=(
    clang-format clang-tidy cppcheck
    # the libFuzzer targets of fuzz/ (make fuzz-ci): clang and its fuzzer/sanitizer runtimes
    clang-14 libclang-rt-14-dev
    qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    libc6:arm64 # the runtime the emulated tests load (cmake/aarch64-linux-gnu.cmake)
    libyaml-dev:arm64 libglpk-dev:arm64 libsqlite3-dev:arm64 libsodium-dev:arm64
    zlib1g-dev:arm64 libxxhash-dev:arm64
    # GSL for `halo calibrate`: the arm64 runtime libraries only. libgsl-dev is not
    # Multi-Arch: same (it ships /usr/bin/gsl-config), so libgsl-dev:arm64 would remove the
    # host's libgsl-dev; the cross build uses the host's headers (core/CMakeLists.txt).
    libgsl27:arm64 libgslcblas0:arm64
    # test_net's netns case (a worker in a network namespace behind random drops); it
    # skips where namespaces cannot be made
    iproute2 iptables
)

usage() {
    echo "usage: $0 [--ci]" >&2
    exit "${1:-2}"
}

# An independent GGUF reader for tests/test_gguf_npm.sh (--ci): pinned, in a cache folder.
NPM_GGUF=@huggingface/gguf@0.4.6
HALO_NPM_DIR=${HALO_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/halo/npm}

pkgs=("${BASE_PKGS[@]}")
ci=0
case "${1-}" in
"") ;;
--ci) pkgs+=("${CI_PKGS[@]}") ci=1 ;;
-h | --help) usage 0 ;;
*) usage ;;
esac
[ $# -le 1 ] || usage

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: dpkg-query not found; this script supports Debian-based systems only" >&2
    exit 1
fi

missing=()
# A bare name matches every installed architecture (libyaml-dev and libyaml-dev:arm64 both
# answer), so a bare name counts as installed only for the native architecture or "all".
native=$(dpkg --print-architecture)
for p in "${pkgs[@]}"; do
    if [[ $p == *:* ]]; then
        want=("${p#*:}")
    else
        want=("$native" all)
    fi
    found=0
    while read -r arch status; do
        for a in "${want[@]}"; do
            [ "$arch" = "$a" ] && [ "$status" = installed ] && found=1
        done
    done < <(dpkg-query -W -f='${Architecture} ${db:Status-Status}\n' "$p" 2>/dev/null || true)
    [ $found -eq 1 ] || missing+=("$p")
done

# Node.js and npm: Debian's, unless some node and npm are on PATH already.
if [ $ci -eq 1 ] && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
    missing+=(nodejs npm)
fi

npm_gguf() {
    [ $ci -eq 1 ] || return 0
    [ -f "$HALO_NPM_DIR/node_modules/@huggingface/gguf/package.json" ] && return 0
    echo "deps.sh: npm install $NPM_GGUF into $HALO_NPM_DIR" >&2
    mkdir -p "$HALO_NPM_DIR"
    npm install --prefix "$HALO_NPM_DIR" --no-audit --no-fund --no-save --silent "$NPM_GGUF"
}

if [ ${#missing[@]} -eq 0 ]; then
    npm_gguf
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: not root and no sudo; install them with:" >&2
    echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

# The aarch64 cross build links arm64 libraries from Debian's multiarch archive.
case " ${missing[*]} " in
*:arm64*)
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        "${SUDO[@]}" dpkg --add-architecture arm64
    fi
    ;;
esac

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 ||
    ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "deps.sh: apt-get failed" >&2
    exit 1
fi
npm_gguf
