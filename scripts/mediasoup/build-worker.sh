#!/usr/bin/env bash
# Builds mediasoup's C++ worker (mediasoup-worker) OFFLINE, from the sources that
# the mediasoup npm package itself ships, against Debian's libraries.
#
#   bash scripts/mediasoup/build-worker.sh [MEDIASOUP_PACKAGE_DIR]
#
# MEDIASOUP_PACKAGE_DIR defaults to node_modules/mediasoup of this project. The
# last line printed on stdout is the path of the built binary (everything else
# goes to stderr). The binary is cached per mediasoup version and per hash of
# this directory's files:
#   .cache/mediasoup-worker/<version>-<hash>/mediasoup-worker
# and when that file exists the script builds nothing and just prints its path.
#
# Why: mediasoup's own postinstall downloads a prebuilt worker from GitHub or
# else builds one with meson subprojects (libuv, OpenSSL, libsrtp, abseil,
# flatbuffers, unordered_dense) downloaded from GitHub and wrapdb. This
# project's machines reach only the npm registry, Debian's repositories and a
# local pip wheel store. So:
#  - Debian packages stand in for the downloaded subprojects: every wrap in
#    worker/subprojects is replaced by a small local subproject from
#    ./subprojects that takes the Debian library through pkg-config under the
#    variable names worker/meson.build reads;
#  - subprojects/libsrtp3/include/srtp.h provides the libsrtp 3 API that
#    mediasoup >= 3.16 calls, on top of Debian's libsrtp 2.5;
#  - subprojects/unordered-dense/include/ankerl/unordered_dense.h stands in for
#    martinus/unordered_dense (used by mediasoup >= 3.22), which nothing
#    reachable packages;
#  - meson (>= the version worker/meson.build asks for; Debian 12 has 1.0.1) is
#    installed with pip into .cache/mediasoup-build/venv when the PATH has none
#    new enough.
# One line of mediasoup's source is fixed (the DTLS BIO callback; see below).
# The build happens in a copy of
# worker/ under .cache/mediasoup-build/, never in node_modules.
#
# What it installs when missing (idempotent): Debian packages g++ pkg-config
# ninja-build libuv1-dev libssl-dev libsrtp2-dev libabsl-dev libflatbuffers-dev
# flatbuffers-compiler (running `apt-get update` first only when apt does not
# know a package yet, or when the install fails on stale lists), and meson.
#
# Environment:
#   MEDIASOUP_BUILD_JOBS  parallel compile jobs (default: nproc)
#   MEDIASOUP_CACHE_DIR   cache root (default: <project>/.cache)
#   MEDIASOUP_KEEP_BUILD  1 keeps the build directory after a successful build
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
pkg=${1:-$root/node_modules/mediasoup}
cache=${MEDIASOUP_CACHE_DIR:-$root/.cache}
jobs=${MEDIASOUP_BUILD_JOBS:-$(nproc)}
meson_pin=1.12.1 # the meson this was tested with; any >= worker/meson.build's minimum is tried next

say() { echo "mediasoup-worker: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

[[ -f $pkg/package.json && -f $pkg/worker/meson.build ]] ||
  die "$pkg is not a mediasoup package directory (no package.json and worker/meson.build)"
pkg=$(cd "$pkg" && pwd)
version=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pkg/package.json" | head -n1)
[[ -n $version ]] || die "cannot read the version from $pkg/package.json"

# The cache key: mediasoup's version, the machine, and every file that shapes
# the build (this script, the stub subprojects, the shims).
key_hash=$(
  cd "$here"
  {
    uname -m
    find ./build-worker.sh ./subprojects -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
)
id=$version-$key_hash
bin_dir=$cache/mediasoup-worker/$id
bin=$bin_dir/mediasoup-worker

# --- Debian packages ----------------------------------------------------------
apt_packages=(g++ pkg-config ninja-build libuv1-dev libssl-dev libsrtp2-dev libabsl-dev
  libflatbuffers-dev flatbuffers-compiler)

ensure_apt_packages() {
  local missing=() p
  command -v python3 >/dev/null || apt_packages+=(python3 python3-venv)
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "missing Debian packages and not root: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  say "installing Debian packages: ${missing[*]}"
  local need_update=0
  for p in "${missing[@]}"; do
    apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || need_update=1
  done
  if ((need_update)); then
    "${sudo[@]}" apt-get update >&2
  fi
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    ((need_update)) && die "apt-get install ${missing[*]} failed"
    say "apt-get install failed; updating the package lists and trying again"
    "${sudo[@]}" apt-get update >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

# --- meson --------------------------------------------------------------------
# version_ge A B: A >= B for dotted versions.
version_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]; }

meson_min=$(sed -n "s/.*meson_version[[:space:]]*:[[:space:]]*'>=[[:space:]]*\([0-9.]*\)'.*/\1/p" "$pkg/worker/meson.build" | head -n1)
meson_min=${meson_min:-1.1.0}
venv=$cache/mediasoup-build/venv

ensure_meson() {
  local m v
  for m in "$venv/bin/meson" "$(command -v meson || true)"; do
    [[ -n $m && -x $m ]] || continue
    v=$("$m" --version 2>/dev/null || true)
    if [[ -n $v ]] && version_ge "$v" "$meson_min"; then
      meson=$m
      return 0
    fi
  done
  say "installing meson (>= $meson_min) with pip into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || {
    apt_packages+=(python3-venv)
    ensure_apt_packages
    python3 -m venv "$venv" >&2
  }
  # --retries 0: where PyPI itself is unreachable, pip goes straight on to the
  # configured local wheel store instead of retrying for half a minute.
  "$venv/bin/pip" install --disable-pip-version-check --retries 0 "meson==$meson_pin" >&2 ||
    "$venv/bin/pip" install --disable-pip-version-check --retries 0 "meson>=$meson_min" >&2 ||
    die "cannot install meson >= $meson_min with pip"
  meson=$venv/bin/meson
}

# --- cache hit ----------------------------------------------------------------
mkdir -p "$cache/mediasoup-worker"
exec 9>"$cache/mediasoup-worker/.lock"
flock 9 # one build at a time; a second caller then finds the cached binary

if [[ -x $bin ]]; then
  # The binary links Debian's shared libraries: on a machine that lost them,
  # install the packages again (the cache itself stays valid).
  if ldd "$bin" 2>/dev/null | grep -q 'not found'; then
    ensure_apt_packages
  fi
  say "cached: $bin"
  echo "$bin"
  exit 0
fi

# --- build --------------------------------------------------------------------
# Every subproject mediasoup would download needs a local stand-in here. The
# two without one are built only for Windows (wingetopt) or the C++ tests
# (catch2), neither of which this build configures.
for wrap in "$pkg"/worker/subprojects/*.wrap; do
  name=$(basename "$wrap" .wrap)
  case $name in
  wingetopt | catch2) ;;
  *) [[ -d $here/subprojects/$name ]] ||
    die "mediasoup $version wants subproject '$name', which scripts/mediasoup/subprojects has no stand-in for" ;;
  esac
done

started=$(date +%s)
ensure_apt_packages
ensure_meson
say "building mediasoup-worker $version (cache id $id) with meson $("$meson" --version), $jobs jobs"

work=$cache/mediasoup-build/$id
rm -rf "$work"
mkdir -p "$work/worker"
# A copy of the worker sources, without build output a previous build or a
# prebuilt download may have left in the package.
tar -C "$pkg/worker" --exclude=./out --exclude=./prebuild -cf - . | tar -C "$work/worker" -xf -
rm -rf "$work/worker/subprojects"/*.wrap "$work/worker/subprojects/packagefiles"
find "$work/worker/subprojects" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
cp -R "$here/subprojects/." "$work/worker/subprojects/"

# One source fix. mediasoup's DTLS BIO callback answers 1 to every query made
# after an operation: it tests `operationType == BIO_CB_RETURN` where the flag
# is combined with the operation (BIO_CB_RETURN | BIO_CB_CTRL …). Debian's
# OpenSSL is built with kernel TLS, so libssl asks the BIO whether kTLS is on,
# hears "yes", allocates no write buffer and crashes (SIGSEGV) on the first
# DTLS record. mediasoup's bundled OpenSSL lacks kTLS, so upstream never meets
# it. Testing the bit returns OpenSSL's own answer.
dtls=$work/worker/src/RTC/DtlsTransport.cpp
grep -qF '(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1' "$dtls" ||
  die "DtlsTransport.cpp changed upstream: check whether the BIO callback fix is still needed"
sed -i 's/(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1/(operationType \& BIO_CB_RETURN) ? static_cast<long>(ret) : 1/' "$dtls"

log=$work/build.log
{
  # --wrap-mode=nodownload: anything that would still be fetched fails at once.
  # --buildtype release -Db_ndebug=true: as mediasoup's own Release build.
  "$meson" setup --wrap-mode=nodownload --buildtype release -Db_ndebug=true "$work/build" "$work/worker" &&
    "$meson" compile -C "$work/build" -j "$jobs" mediasoup-worker
} 2>&1 | tee "$log" >&2 || die "build failed; log: $log"

if ldd "$work/build/mediasoup-worker" | grep 'not found' >&2; then
  die "the built binary has unresolved shared libraries"
fi

mkdir -p "$bin_dir"
install -m 0755 "$work/build/mediasoup-worker" "$bin.tmp.$$"
{
  echo "mediasoup $version"
  echo "cache id $id"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - started)) s, $jobs jobs, on $(uname -m)"
  echo "meson $("$meson" --version), ninja $(ninja --version), $(g++ --version | head -n1)"
  echo "debian: $(dpkg-query -W -f='${Package} ${Version}, ' libuv1-dev libssl-dev libsrtp2-dev libabsl-dev libflatbuffers-dev flatbuffers-compiler)"
  echo "shared libraries:"
  ldd "$work/build/mediasoup-worker"
} >"$bin_dir/build-info.txt"
mv -f "$bin.tmp.$$" "$bin"

if [[ ${MEDIASOUP_KEEP_BUILD:-} != 1 ]]; then
  rm -rf "$work"
fi
say "built in $(($(date +%s) - started)) s: $bin"
echo "$bin"
