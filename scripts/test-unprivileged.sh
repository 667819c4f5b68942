#!/bin/sh
# The integration tests again, as an ordinary user: `make test` runs this as root after the
# root pass, so that CI sees what breaks when sluice is not root (a deployment under
# systemd's User=, or `sluice run` by a developer).
#
# Usage (as root): scripts/test-unprivileged.sh BUILD_DIR [pytest arguments...]
# (default: all of tests/integration; paths are relative to the repository root)
#
# The user is $SLUICE_TEST_USER (default sluice-test, a system user without a home or a
# shell, created here when missing). It may not be able to read the checkout (a clone under
# /root is mode 0700) and must not write into it (root's __pycache__, build/), so the tree
# (without .git) and BUILD_DIR are copied to a fresh directory of root's, readable by all,
# with mtimes kept so that make sees the copied build as up to date. The user gets its own
# HOME and TMPDIR there; pytest writes no cache and Python no bytecode. The tests themselves
# then move into an unprivileged user and network namespace (tests/integration/netns.py).
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [pytest arguments...]" >&2
	exit 2
fi
build=$1
shift
[ $# -gt 0 ] || set -- tests/integration
user=${SLUICE_TEST_USER:-sluice-test}
python=${PYTHON:-/usr/bin/python3}

if [ "$(id -u)" != 0 ]; then
	echo "$0: run as root (as an ordinary user, run pytest directly: it is unprivileged)" >&2
	exit 2
fi
if [ ! -x "$build/sluice" ]; then
	echo "$0: $build/sluice is missing: build it first" >&2
	exit 2
fi
if ! id -u "$user" >/dev/null 2>&1; then
	echo "sluice: creating the system user $user for the unprivileged test pass" >&2
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin "$user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")

stage=$(mktemp -d "${TMPDIR:-/tmp}/sluice-unprivileged-XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
chmod 0755 "$stage"
mkdir "$stage/src" "$stage/home" "$stage/tmp"
tar -C . --exclude=./.git --exclude=./build --exclude=./build-asan --exclude=./build-dev \
    --exclude=__pycache__ --exclude=.pytest_cache --exclude=./.cache -cf - . |
    tar -C "$stage/src" -xf -
mkdir "$stage/src/build"
tar -C "$build" -cf - . | tar -C "$stage/src/build" -xf -
chmod -R a+rX,go-w "$stage/src"
chown "$uid:$gid" "$stage/home" "$stage/tmp"
chmod 0700 "$stage/home" "$stage/tmp"

cd "$stage/src"
echo "  PYTEST  tests/integration as $user (uid $uid), unprivileged"
# env -i: nothing of root's environment (SUDO_*, a root HOME, proxies) leaks into the run.
setpriv --reuid="$uid" --regid="$gid" --init-groups --inh-caps=-all \
    env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    USER="$user" LOGNAME="$user" HOME="$stage/home" TMPDIR="$stage/tmp" \
    PYTHONDONTWRITEBYTECODE=1 ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    SLUICE_BIN="$stage/src/build/sluice" \
    "$python" -m pytest -q -p no:cacheprovider "$@"
