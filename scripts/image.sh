#!/bin/sh
# Build sluice's OCI image with buildah, without a daemon and without pulling
# anything: FROM scratch, holding only the binary, the shared libraries ldd
# names (and the dynamic loader), the CA bundle, passwd/group with the
# non-root user sluice, and the container configuration contrib/image/.
#
# Usage: scripts/image.sh BINARY OUTPUT.tar
# Environment: BUILD (default build) holds the staging tree and buildah's
# storage; IMAGE_SOURCE, when set, becomes the org.opencontainers.image.source
# label; SOURCE_DATE_EPOCH, when set, the image's creation time.
#
# The storage is buildah's own under $BUILD/buildah, with the vfs driver
# (no overlay mounts, so it works as root inside a container and needs no
# fuse-overlayfs), and is deleted afterwards, with its configuration and
# temporary files: nothing is left in /var/lib/containers, /etc/cni or
# /var/tmp, and nothing is cached (the ~4 MB image takes about a second).
# Nothing is run inside the image (no `buildah run`), so no OCI runtime is
# needed; BUILDAH_ISOLATION=chroot only keeps buildah from looking for one.
# As an ordinary user it works too (rootless buildah; without /etc/subuid
# ranges it warns and maps the one uid, which is all a copy needs), and
# leaves its blob-info cache in ~/.local/share/containers.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 BINARY OUTPUT.tar" >&2
	exit 2
fi
bin=$1
out=$2
build=${BUILD:-build}
uid=65532 # the user sluice: distroless's "nonroot" number, in no distribution's range
here=$(cd "$(dirname "$0")/.." && pwd)

command -v buildah >/dev/null 2>&1 || {
	echo "$0: buildah is missing: make deps-deploy (apt-get install buildah)" >&2
	exit 1
}
[ -x "$bin" ] || { echo "$0: $bin: no such executable" >&2; exit 1; }
ca=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca" ] || { echo "$0: $ca is missing (apt-get install ca-certificates)" >&2; exit 1; }

# The OCI architecture names (Go's) of the machine the binary was built on.
case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac

version=$("$bin" version | sed -n 's/^sluice //p')
[ -n "$version" ] || { echo "$0: $bin version printed no version" >&2; exit 1; }

# The root file system, staged in a plain directory first so that what goes
# into the layer is exactly this tree (kept afterwards, for a look). The empty
# /etc/sluice/secrets is where the configuration expects its htpasswd files.
stage=$build/image/rootfs
rm -rf "$build/image"
mkdir -p "$stage/usr/local/bin" "$stage/etc/ssl/certs" "$stage/etc/sluice/secrets"
# Debug information stays in $bin; the image gets the stripped copy.
strip --strip-unneeded -o "$stage/usr/local/bin/sluice" "$bin"
chmod 0755 "$stage/usr/local/bin/sluice"

# The libraries and the loader, where ldd finds them (linux-vdso has no
# file). cp -L copies the file behind a symbolic link (/lib64/ld-linux-*.so.2
# is one) under the name the binary asks for, which is all it resolves.
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3; next }
	$1 ~ /^\// { print $1 }')
[ -n "$libs" ] || { echo "$0: ldd $bin found no libraries (static?)" >&2; exit 1; }
for lib in $libs; do
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
	chmod 0755 "$stage$lib"
done

cp -L "$ca" "$stage$ca"
chmod 0644 "$stage$ca"

# Only the user sluice (the image's USER) and nobody; no shell exists, and
# none is named.
cat >"$stage/etc/passwd" <<EOF
root:x:0:0:root:/:/nonexistent
sluice:x:$uid:$uid:sluice:/nonexistent:/nonexistent
nobody:x:65534:65534:nobody:/nonexistent:/nonexistent
EOF
cat >"$stage/etc/group" <<EOF
root:x:0:
sluice:x:$uid:
nogroup:x:65534:
EOF
chmod 0644 "$stage/etc/passwd" "$stage/etc/group"

for f in sluice.conf allow.txt; do
	cp "$here/contrib/image/$f" "$stage/etc/sluice/$f"
	chmod 0644 "$stage/etc/sluice/$f"
done
find "$stage" -type d -exec chmod 0755 {} +

# buildah, in storage of its own.
root=$build/buildah/root
runroot=$build/buildah/run
rm -rf "$build/buildah"
mkdir -p "$root" "$runroot"
export BUILDAH_ISOLATION=chroot
# buildah sets up its network backend even for a build that runs nothing, and
# would create /etc/cni/net.d (as root) for its lock: a containers.conf of our
# own points it under $build/buildah instead.
# (Absolute: buildah's copier reads it from another directory.)
storage=$(cd "$build/buildah" && pwd)
cat >"$storage/containers.conf" <<EOF
[network]
network_backend = "cni"
network_config_dir = "$storage/cni"
EOF
export CONTAINERS_CONF="$storage/containers.conf"
# Its temporary files (the archive being written) too, rather than /var/tmp.
mkdir -p "$storage/tmp"
export TMPDIR="$storage/tmp"
bh() {
	buildah --root "$root" --runroot "$runroot" --storage-driver vfs "$@"
}
# As root, containers/image keeps a blob-info cache in /var/lib/containers/cache
# whatever --root says, and buildah has no option to move it: what this run
# creates there is removed again (an existing cache, someone else's, stays).
cache=/var/lib/containers/cache
[ -e /var/lib/containers ] && varlib_had=yes || varlib_had=no
[ -e "$cache" ] && cache_had=yes || cache_had=no
cleanup() {
	bh rm --all >/dev/null 2>&1 || true
	rm -rf "$build/buildah"
	if [ "$(id -u)" = 0 ]; then
		[ "$varlib_had" = yes ] || rm -rf /var/lib/containers
		[ "$cache_had" = yes ] || rm -rf "$cache"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

ctr=$(bh from --quiet scratch)
bh copy --quiet --chown 0:0 "$ctr" "$stage/" / >/dev/null
set -- --label "org.opencontainers.image.title=sluice" \
	--label "org.opencontainers.image.description=An egress proxy for untrusted code: CONNECT with Basic auth, a domain allowlist and an access log" \
	--label "org.opencontainers.image.version=$version" \
	--label "org.opencontainers.image.licenses=MIT"
if [ -n "${IMAGE_SOURCE:-}" ]; then
	set -- "$@" --label "org.opencontainers.image.source=$IMAGE_SOURCE"
else
	echo "$0: IMAGE_SOURCE unset: no org.opencontainers.image.source label" >&2
fi
if rev=$(git -C "$here" rev-parse HEAD 2>/dev/null); then
	set -- "$@" --label "org.opencontainers.image.revision=$rev"
fi
bh config "$@" \
	--entrypoint '["/usr/local/bin/sluice","serve","-c","/etc/sluice/sluice.conf"]' \
	--cmd '' \
	--user "$uid:$uid" \
	--workingdir / \
	--port 3128/tcp --port 9128/tcp \
	--stop-signal SIGTERM \
	--os linux --arch "$arch" \
	--created-by "scripts/image.sh" \
	"$ctr"

mkdir -p "$(dirname "$out")"
rm -f "$out"
# Compressed (gzip) layers: buildah's default is to store them as plain tar.
set -- --quiet --rm --format oci --identity-label=false --disable-compression=false
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	set -- "$@" --timestamp "$SOURCE_DATE_EPOCH"
fi
bh commit "$@" "$ctr" "oci-archive:$out:sluice:$version" >/dev/null
echo "  IMAGE   $out ($(du -k "$out" | cut -f1) KiB, sluice $version)"
