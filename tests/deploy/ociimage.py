# SPDX-License-Identifier: MIT
"""Reading an OCI archive (what `buildah commit ... oci-archive:FILE` writes) without a container
tool: the image layout's index.json, the manifest it names, the image configuration and the
layers, every blob checked against its sha256 digest and size, the layers unpacked in order
into a directory.

An OCI archive is a tar of an image layout (image-spec `image-layout.md`): `oci-layout`,
`index.json`, and `blobs/sha256/<hex>`. index.json lists manifests; a manifest names the
configuration blob (entrypoint, user, ports, labels) and the layer blobs (tar, possibly
gzip-compressed), to be applied in order with `.wh.` whiteouts deleting what earlier layers
put there.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Image:
    index: dict
    manifest: dict
    config: dict  # the whole image configuration; its "config" member is the runtime part
    layers: list  # the layer descriptors, in order
    ref_name: str  # org.opencontainers.image.ref.name of the manifest, or ""

    @property
    def runtime(self):
        return self.config.get("config", {})


class ArchiveError(Exception):
    pass


def _blob(archive, descriptor):
    """The bytes of the blob `descriptor` names, checked against its digest and size."""
    algo, _, hexdigest = descriptor["digest"].partition(":")
    if algo != "sha256" or len(hexdigest) != 64:
        raise ArchiveError(f"unsupported digest {descriptor['digest']!r}")
    try:
        member = archive.getmember(f"blobs/sha256/{hexdigest}")
    except KeyError:
        raise ArchiveError(f"blob {descriptor['digest']} is missing") from None
    data = archive.extractfile(member).read()
    if len(data) != descriptor["size"]:
        raise ArchiveError(f"blob {descriptor['digest']}: {len(data)} bytes, the descriptor "
                           f"says {descriptor['size']}")
    if hashlib.sha256(data).hexdigest() != hexdigest:
        raise ArchiveError(f"blob {descriptor['digest']}: content does not match its digest")
    return data


def read(path):
    """The image in the OCI archive at `path` (the first manifest of its index)."""
    with tarfile.open(path) as archive:
        layout = json.loads(archive.extractfile("oci-layout").read())
        if layout.get("imageLayoutVersion") != "1.0.0":
            raise ArchiveError(f"oci-layout: {layout!r}")
        index = json.loads(archive.extractfile("index.json").read())
        manifests = index.get("manifests", [])
        if len(manifests) != 1 or manifests[0].get("mediaType") != MANIFEST:
            raise ArchiveError(f"index.json: expected one image manifest, got {manifests!r}")
        manifest = json.loads(_blob(archive, manifests[0]))
        if manifest.get("config", {}).get("mediaType") != CONFIG:
            raise ArchiveError(f"manifest: config is {manifest.get('config')!r}")
        config = json.loads(_blob(archive, manifest["config"]))
        ref = manifests[0].get("annotations", {}).get("org.opencontainers.image.ref.name", "")
        return Image(index=index, manifest=manifest, config=config,
                     layers=manifest.get("layers", []), ref_name=ref)


def _safe_name(name):
    """The member name as a relative path inside the root, or an error for one that would
    leave it (absolute, or with a `..` component)."""
    norm = os.path.normpath(name.lstrip("./") or ".")
    if os.path.isabs(name) and name != "/" or norm == ".." or norm.startswith("../"):
        raise ArchiveError(f"layer member {name!r} leaves the root")
    return norm


def unpack(path, image, rootfs):
    """Apply the layers of `image` (read from the archive `path`) in order into the directory
    `rootfs`, as a runtime would: owners, modes and links kept, whiteouts applied. Returns
    the list of paths (relative, without a leading slash) the last state holds."""
    os.makedirs(rootfs, exist_ok=True)
    with tarfile.open(path) as archive:
        for descriptor in image.layers:
            data = _blob(archive, descriptor)
            if descriptor["mediaType"] == LAYER_GZIP:
                data = gzip.decompress(data)
            elif descriptor["mediaType"] != LAYER_TAR:
                raise ArchiveError(f"unsupported layer type {descriptor['mediaType']!r}")
            with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                for member in layer.getmembers():
                    name = _safe_name(member.name)
                    base = os.path.basename(name)
                    if base.startswith(".wh."):
                        target = os.path.join(rootfs, os.path.dirname(name), base[4:])
                        if base == ".wh..wh..opq":
                            raise ArchiveError("opaque whiteouts are not supported")
                        if os.path.lexists(target):
                            if os.path.isdir(target) and not os.path.islink(target):
                                shutil.rmtree(target)
                            else:
                                os.unlink(target)
                        continue
                    if member.islnk():
                        member.linkname = _safe_name(member.linkname)
                    member.name = name
                    layer.extract(member, rootfs, set_attrs=True, numeric_owner=True)
    listing = []
    for top, dirs, files in os.walk(rootfs):
        for entry in dirs + files:
            listing.append(os.path.relpath(os.path.join(top, entry), rootfs))
    return sorted(listing)
