#!/usr/bin/env python3
"""Makes an OCI image archive written by `podman save --format oci-archive` loadable by every
common consumer, in place:

- `ctr images import` / `kind load image-archive` (containerd) name the image after the
  index annotation `io.containerd.image.name`, which podman does not write: added, with the
  full reference (docker.io/...);
- `docker load` (classic image store) reads a `manifest.json` in the Docker archive format
  next to the OCI layout: added, pointing at the OCI blobs (config and layer tars).

The OCI layout (oci-layout, index.json, blobs/) stays valid, so `podman load` and
`skopeo copy oci-archive:...` keep working. Usage:
    oci-archive-compat.py ARCHIVE FULL_REFERENCE DOCKER_TAG
    e.g. oci-archive-compat.py target/images/kubedns.oci.tar \
         docker.io/kube-dns-rs/kubedns:0.1.0 kube-dns-rs/kubedns:0.1.0
"""

import json
import os
import sys
import tarfile
import tempfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONTAINERD_NAME = "io.containerd.image.name"
OCI_REF_NAME = "org.opencontainers.image.ref.name"


def blob_path(digest):
    algo, hexdigest = digest.split(":", 1)
    return f"blobs/{algo}/{hexdigest}"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    archive, full_ref, docker_tag = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        with open(os.path.join(tmp, "index.json")) as f:
            index = json.load(f)
        manifests = index.get("manifests", [])
        if len(manifests) != 1 or manifests[0].get("mediaType") != OCI_MANIFEST:
            sys.exit(f"{archive}: expected exactly one OCI image manifest, found {manifests}")
        desc = manifests[0]
        annotations = desc.setdefault("annotations", {})
        annotations[CONTAINERD_NAME] = full_ref
        annotations[OCI_REF_NAME] = full_ref
        with open(os.path.join(tmp, blob_path(desc["digest"]))) as f:
            manifest = json.load(f)
        docker_manifest = [
            {
                "Config": blob_path(manifest["config"]["digest"]),
                "RepoTags": [docker_tag],
                "Layers": [blob_path(layer["digest"]) for layer in manifest["layers"]],
            }
        ]
        for path in [docker_manifest[0]["Config"], *docker_manifest[0]["Layers"]]:
            if not os.path.isfile(os.path.join(tmp, path)):
                sys.exit(f"{archive}: blob {path} named by the manifest is missing")
        with open(os.path.join(tmp, "index.json"), "w") as f:
            json.dump(index, f, separators=(",", ":"))
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(docker_manifest, f, separators=(",", ":"))

        out = archive + ".tmp"
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
            for name in ["oci-layout", "index.json", "manifest.json", "blobs"]:
                tar.add(os.path.join(tmp, name), arcname=name, filter=normalize)
        os.replace(out, archive)


def normalize(info):
    """Reproducible members: no host owner names or times."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


if __name__ == "__main__":
    main()
