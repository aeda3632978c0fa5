#!/bin/sh
# Install the Debian packages brig needs to build, test and run, when missing.
# `install-deps.sh fuzz` adds what `make fuzz` needs: clang with libFuzzer and
# the sanitizer runtimes, and llvm-symbolizer for readable stack traces.
set -eu

PKGS="gcc pkg-config meson ninja-build libseccomp-dev libcurl4-openssl-dev
libjansson-dev libsqlite3-dev libidn2-dev libedit-dev libmicrohttpd-dev python3 python3-numpy python3-pytest
python3-dev python3-mesonpy patchelf python3-venv
nodejs iproute2 util-linux procps e2fsprogs binutils curl wget openssl ca-certificates
python3-pip wrk
python3-pandas python3-matplotlib python3-scipy fonts-dejavu-core fontconfig jq bc tzdata"
# node's headers (node_api.h, for the Node SDK and JavaScript snapshots):
# nodesource's nodejs ships them, Debian's in libnode-dev.
[ -e /usr/include/node/node_api.h ] || PKGS="$PKGS libnode-dev"
if [ "${1:-}" = fuzz ]; then
	PKGS="$PKGS clang libclang-rt-14-dev llvm"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
