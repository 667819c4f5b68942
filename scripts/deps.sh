#!/bin/sh
# Install the Debian packages a make target needs, when any is missing.
# Usage: scripts/deps.sh build|run|test|bench|fuzz|deploy. Runs apt-get only if something is
# missing, so it is cheap to call on every make.
set -eu

build="gcc make pkg-config node-llhttp libc-ares-dev libcrypt-dev libssl-dev libseccomp-dev"
test="$build libcmocka-dev python3 python3-pytest python3-requests python3-httpx prometheus chromium haproxy \
python3-pip curl wget openssl apache2-utils iproute2 nodejs ca-certificates squid-openssl \
util-linux python3-yaml python3-crc32c"
run="$build apache2-utils curl python3"
fuzz="$build clang libclang-rt-14-dev"
bench="$build wrk squid-openssl tinyproxy haproxy gnuplot-nox apache2-utils curl"
# make image (buildah, FROM scratch; binutils strips the copy in the image) and
# tests/deploy, which unpack and run it without a container runtime.
deploy="$build binutils buildah ca-certificates python3 python3-pytest curl openssl apache2-utils \
iproute2 util-linux python3-yaml python3-crc32c"

case "${1:-build}" in
build) want=$build ;;
run) want=$run ;;
fuzz) want=$fuzz ;;
test) want=$test ;;
bench) want=$bench ;;
deploy) want=$deploy ;;
*) echo "usage: $0 build|run|test|bench|fuzz|deploy" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
# nodejs from another repository (NodeSource) provides npm itself; Debian's
# nodejs needs the separate npm package.
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null 2>&1; then
	missing="$missing npm"
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "sluice: missing Debian packages:$missing" >&2
	echo "sluice: install them with: sudo apt-get install$missing" >&2
	exit 1
fi
echo "sluice: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2 || true
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2
