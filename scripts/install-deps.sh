#!/usr/bin/env bash
# Installs everything VirtualMLE needs on a Debian 12 (bookworm) machine.
#
# Idempotent and quick when everything is present: Debian packages are installed
# only when missing (never upgraded), and prometheus-cpp, which bookworm does not
# package, is unpacked from the Debian 13 (trixie) binary packages into a private
# prefix (default: $HOME/.cache/vmle/prefix, override with VMLE_DEPS_PREFIX) without
# touching the system's package database.
#
# Usage: scripts/install-deps.sh [--with-bench] [--with-deploy-tests]
#   --with-bench         also install what the benchmarks compare against (python3-torch).
#   --with-deploy-tests  also install what tests/deploy needs: Debian's prometheus, node
#                        and npm (when missing), and the npm packages of
#                        tests/deploy/package.json into $HOME/.cache/vmle/npm (override
#                        with VMLE_NPM_DIR). The deploy tests run it themselves.
set -euo pipefail

PREFIX="${VMLE_DEPS_PREFIX:-$HOME/.cache/vmle/prefix}"
NPM_DIR="${VMLE_NPM_DIR:-$HOME/.cache/vmle/npm}"
with_bench=0
with_deploy_tests=0
for arg in "$@"; do
  case "$arg" in
    --with-bench) with_bench=1 ;;
    --with-deploy-tests) with_deploy_tests=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc
  libabsl-dev librocksdb-dev
  libtorch-dev libopenblas0-openmp
  libgtest-dev libgmock-dev googletest
  nlohmann-json3-dev libcurl4-openssl-dev zlib1g-dev libssl-dev
  # civetweb: its CMake package (needed by prometheus-cpp) names the binary too.
  libcivetweb-dev civetweb
  libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
  curl procps
  # TLS test certificates (scripts/make-test-ca.sh); clang and its runtime for the
  # libFuzzer targets of tests/fuzz.
  openssl clang libclang-rt-14-dev
)
if [ "$with_bench" = 1 ]; then
  packages+=(python3 python3-torch python3-numpy)
fi
if [ "$with_deploy_tests" = 1 ]; then
  packages+=(prometheus)
  # A node from elsewhere (e.g. NodeSource) is kept: Debian's npm would conflict with it.
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    --no-upgrade "${missing[@]}"
fi

# libtorch must call OpenBLAS, not the reference BLAS (10x slower here).
if command -v update-alternatives >/dev/null; then
  blas=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas-openmp | head -1 || true)
  if [ -n "$blas" ]; then
    $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas" >/dev/null
  fi
  lapack=$(update-alternatives --list liblapack.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas-openmp | head -1 || true)
  if [ -n "$lapack" ]; then
    $SUDO update-alternatives --set liblapack.so.3-x86_64-linux-gnu "$lapack" >/dev/null
  fi
fi

# The deploy tests' npm packages, reinstalled when tests/deploy/package.json changes.
if [ "$with_deploy_tests" = 1 ]; then
  manifest="$(cd "$(dirname "$0")/.." && pwd)/tests/deploy/package.json"
  if ! cmp -s "$manifest" "$NPM_DIR/package.json" || [ ! -f "$NPM_DIR/.installed" ]; then
    echo "install-deps: installing the deploy tests' npm packages into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    rm -f "$NPM_DIR/.installed"
    cp "$manifest" "$NPM_DIR/package.json"
    (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error)
    touch "$NPM_DIR/.installed"
  fi
fi

# prometheus-cpp from Debian 13, unpacked into $PREFIX.
prom_pkgs=(libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 prometheus-cpp-dev)
if [ -f "$PREFIX/.prometheus-cpp-ok" ] && \
   [ -f "$PREFIX/usr/lib/x86_64-linux-gnu/cmake/prometheus-cpp/prometheus-cpp-config.cmake" ]; then
  exit 0
fi

echo "install-deps: fetching prometheus-cpp from the trixie suite into $PREFIX"
# The mirror the system already uses, read from its deb822 sources.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
  case "$uri" in
    *debian-security*|"") ;;
    *) mirror="$uri"; break ;;
  esac
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "install-deps: cannot find the Debian mirror in /etc/apt/sources.list.d/*.sources" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
cat > "$work/trixie.sources" <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
: > "$work/empty.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/empty.list"
  -o "Dir::Etc::SourceParts=$work/sp"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Dir::State::status=/dev/null"
  -o "APT::Architecture=amd64"
  -o "Debug::NoLocking=1"
)
mkdir -p "$work/sp"
cp "$work/trixie.sources" "$work/sp/"
apt-get "${apt_opts[@]}" update -qq
(cd "$work/debs" && apt-get "${apt_opts[@]}" download "${prom_pkgs[@]}")
mkdir -p "$PREFIX"
for deb in "$work"/debs/*.deb; do
  dpkg -x "$deb" "$PREFIX"
done
touch "$PREFIX/.prometheus-cpp-ok"
echo "install-deps: prometheus-cpp unpacked into $PREFIX"
