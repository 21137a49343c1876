#!/usr/bin/env bash
# Builds the three kube-dns-rs images with podman from Debian's packages, without pulling any
# base image, and exports each as an OCI archive that `docker load`, `ctr images import` and
# `kind load image-archive` accept:
#
#   1. static release binaries on the host: RUSTFLAGS="-C target-feature=+crt-static"
#      cargo build --release --target <host triple>, in target/images-build (so the debug build
#      of `cargo test` is not invalidated); each is checked to be statically linked, and glibc
#      to be >= 2.34 (its built-in `files`/`dns` NSS services need no module at run time);
#   2. per binary, a build context holding only that binary (dnsmasq-rs gets the file
#      capability cap_net_bind_service=ep; kubedns also gets Debian's CA bundle), built with manifests/images/<binary>.Containerfile
#      (FROM scratch) and tagged docker.io/kube-dns-rs/<binary>:<version>;
#   3. `podman save --format oci-archive` to target/images/<binary>.oci.tar, then
#      oci-archive-compat.py adds the containerd name annotation and Docker's manifest.json.
#
# Usage: manifests/images/build.sh [--skip-cargo]
# Environment: IMAGE_REPO (default kube-dns-rs), IMAGE_TAG (default: the workspace version),
#              IMAGES_TARGET_DIR (default target/images-build).
# Prints one line per image with its size. Needs podman (Debian: podman, buildah, runc) and
# setcap (libcap2-bin); run as root or under `podman unshare`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

BINARIES=(kubedns dnsmasq-rs healthz)
REPO="${IMAGE_REPO:-kube-dns-rs}"
TAG="${IMAGE_TAG:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
TARGET_DIR="${IMAGES_TARGET_DIR:-$root/target/images-build}"
OUT="$root/target/images"
# Debian's CA bundle, copied into the kubedns image (see below).
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# runc explicitly: it is what Debian's podman package pulls in (crun is not installed).
PODMAN=(podman --runtime runc)
# `podman run` asks for nofile 1048576 by default, and runc's container init cannot raise a
# limit above the caller's hard limit without CAP_SYS_RESOURCE, which these machines' root
# lacks ("error setting rlimit type 7: operation not permitted"); nproc fails the same way
# above about 32768 here. Explicit values within the hard limits work everywhere; the image
# test (integration/tests/images.rs) passes the same ones.
NOFILE_CAP=16384
NPROC=4096
nofile="$(ulimit -Hn)"
[ "$nofile" = unlimited ] || [ "$nofile" -gt "$NOFILE_CAP" ] && nofile=$NOFILE_CAP
RUN_FLAGS=(--rm --network=none --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$NPROC:$NPROC")

log() { echo "images: $*" >&2; }
die() { log "$*"; exit 1; }

command -v podman >/dev/null || die "podman not found (apt-get install podman buildah runc)"
SETCAP="$(command -v setcap || echo /usr/sbin/setcap)"
[ -x "$SETCAP" ] || die "setcap not found (apt-get install libcap2-bin)"
[ -n "$TAG" ] || die "cannot read the workspace version from Cargo.toml"

# Name lookups (getaddrinfo, reached through std and hyper for host names in URLs) in a static
# glibc binary: since glibc 2.34 the `files` and `dns` NSS services are part of libc itself, so
# they work in a scratch image without /etc/nsswitch.conf or any libnss_*.so; an older glibc
# would dlopen() modules the image does not have.
glibc="$(ldd --version 2>/dev/null | head -n1 | grep -o '[0-9][0-9.]*$' || true)"
if [ -z "$glibc" ] || [ "$(printf '%s\n%s\n' "$glibc" 2.34 | sort -V | head -n1)" != 2.34 ]; then
  die "glibc ${glibc:-?} < 2.34: static binaries would need NSS modules at run time"
fi

bin_dir="$TARGET_DIR/$TRIPLE/release"
if [ "${1:-}" != "--skip-cargo" ]; then
  log "building static release binaries for $TRIPLE in $TARGET_DIR"
  RUSTFLAGS="-C target-feature=+crt-static ${RUSTFLAGS:-}" \
    cargo build --release --locked --target "$TRIPLE" --target-dir "$TARGET_DIR" \
    -p kubedns -p dnsmasq-rs -p healthz
fi

mkdir -p "$OUT"
for b in "${BINARIES[@]}"; do
  bin="$bin_dir/$b"
  [ -x "$bin" ] || die "$bin not built"
  # Static: no interpreter, no shared libraries.
  kind="$(file -b "$bin")"
  case "$kind" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) die "$b is not statically linked: $kind" ;;
  esac
  if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
    die "$b has shared library dependencies: $(ldd "$bin")"
  fi

  ctx="$OUT/context/$b"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp "$bin" "$ctx/$b"
  strip --strip-debug "$ctx/$b" 2>/dev/null || true
  if [ "$b" = dnsmasq-rs ]; then
    "$SETCAP" cap_net_bind_service=+ep "$ctx/$b"
  fi
  if [ "$b" = kubedns ]; then
    # kube's rustls client loads the system CA store even for an http:// or in-cluster API
    # server and fails without one ("No CA certificates were loaded from the system").
    [ -s "$CA_BUNDLE" ] || die "$CA_BUNDLE missing (apt-get install ca-certificates)"
    cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
  fi

  ref="docker.io/$REPO/$b:$TAG"
  log "building $ref"
  "${PODMAN[@]}" build --quiet --pull=never \
    --label "org.opencontainers.image.title=$b" \
    --label "org.opencontainers.image.version=$TAG" \
    --label "org.opencontainers.image.source=https://github.com/kube-dns-rs/kube-dns-rs" \
    -f "manifests/images/$b.Containerfile" -t "$ref" "$ctx" >/dev/null
  archive="$OUT/$b.oci.tar"
  rm -f "$archive"
  "${PODMAN[@]}" save --quiet --format oci-archive -o "$archive" "$ref"
  python3 manifests/images/oci-archive-compat.py "$archive" "$ref" "$REPO/$b:$TAG"
  # The image runs: its binary answers --version (first line).
  version="$("${PODMAN[@]}" run "${RUN_FLAGS[@]}" "$ref" --version 2>&1 | head -n1)" \
    || die "$ref does not run: $version"
  size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$ref")"
  echo "image $ref: $(( size / 1024 )) KiB, archive $(( $(stat -c %s "$archive") / 1024 )) KiB ($archive); --version: $version"
done
