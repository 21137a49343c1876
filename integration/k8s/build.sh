#!/usr/bin/env bash
# Builds the real Kubernetes control plane from source through the Go module proxy:
# kube-apiserver, kube-controller-manager and kubectl from k8s.io/kubernetes, and etcd from
# go.etcd.io/etcd/server/v3, at the pinned versions below.
#
# Output: target/k8s/<set>/bin/{etcd,kube-apiserver,kube-controller-manager,kubectl} where
# <set> = k8s-<version>_etcd-<version>_go<go version>. A set whose stamp file matches its pins,
# and the Go version is not rebuilt. target/k8s/current points at the
# primary set (the one tests use unless KUBE_DNS_RS_K8S_DIR says otherwise). The stamp holds the
# pins and the Go version only: nothing is rebuilt while they stay the same.
#
# Usage: integration/k8s/build.sh [primary|older|all]   (default: primary)
#   primary  Kubernetes $K8S_PRIMARY (>= 1.34; its watch cache paginates RV=0 lists)
#   older    Kubernetes $K8S_OLDER (1.32; its watch cache serves RV=0 lists unpaginated)
set -euo pipefail
# A failed step inside $(...) (every build runs in one) must fail the script.
shopt -s inherit_errexit

# ---- pins -------------------------------------------------------------------------------
K8S_PRIMARY=v1.34.4
# v1.32.13's staging modules are not all served by the module proxy (k8s.io/endpointslice
# v0.32.13 answers 403 'not available'); v1.32.2's are.
K8S_OLDER=v1.32.2
# etcd supported by both releases (Kubernetes 1.32 ships etcd 3.5, 1.34 ships 3.6; 3.6 serves
# both: the 1.32 apiserver's etcd client speaks the same v3 API).
ETCD_VERSION=v3.6.16
# -----------------------------------------------------------------------------------------

root="$(cd "$(dirname "$0")/../.." && pwd)"
which="${1:-primary}"
out_root="${KUBE_DNS_RS_K8S_OUT:-$root/target/k8s}"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"
export CGO_ENABLED=0
go_version="$(go env GOVERSION)"

log() { echo "k8s-build: $*" >&2; }

# Writes a throwaway module that requires k8s.io/kubernetes at $1 and maps every staging
# module (the `replace k8s.io/x => ./staging/...` lines of its go.mod, which Go ignores in a
# dependency) to the matching published v0.x version, then builds the three commands.
build_kubernetes() {
  local ver="$1" dest="$2" work="$3"
  local minor="${ver#v1.}"          # 34.4
  local staging="v0.${minor}"       # v0.34.4
  mkdir -p "$work"
  local gomod
  gomod="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$ver" \
    | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$gomod" ] || { log "cannot download k8s.io/kubernetes@$ver"; return 1; }
  {
    echo "module kube-dns-rs.local/k8s-build"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes $ver"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/.*#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } > "$work/go.mod"
  cat > "$work/tools.go" <<'GO'
//go:build tools

// Package tools pins the Kubernetes commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$work" && go mod tidy) >"$work/tidy.log" 2>&1 || {
    log "go mod tidy failed for k8s.io/kubernetes@$ver:"; tail -20 "$work/tidy.log" >&2; return 1; }
  # The version the binaries report (kubectl's skew warning and /version read it).
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*}"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$dest"
  local cmd
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    log "building $cmd $ver"
    (cd "$work" && go build -ldflags "$ldflags" -o "$dest/$cmd" "k8s.io/kubernetes/cmd/$cmd")
  done
}

build_etcd() {
  local ver="$1" dest="$2" work="$3"
  mkdir -p "$work" "$dest"
  cat > "$work/go.mod" <<GOMOD
module kube-dns-rs.local/etcd-build

go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')

require go.etcd.io/etcd/server/v3 $ver
GOMOD
  cat > "$work/tools.go" <<'GO'
//go:build tools

// Package tools pins the etcd server command this module builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$work" && go mod tidy) >"$work/tidy.log" 2>&1 || {
    log "go mod tidy failed for etcd $ver:"; tail -20 "$work/tidy.log" >&2; return 1; }
  log "building etcd $ver"
  (cd "$work" && go build -ldflags "-s -w" -o "$dest/etcd" go.etcd.io/etcd/server/v3)
}

build_set() {
  local k8s="$1"
  local set="k8s-${k8s}_etcd-${ETCD_VERSION}_${go_version}"
  local dir="$out_root/$set"
  local stamp="$dir/.stamp" want="$k8s $ETCD_VERSION $go_version"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "up to date: $dir"
  else
    local t0=$SECONDS
    rm -rf "$dir"
    build_kubernetes "$k8s" "$dir/bin" "$dir/src/kubernetes"
    build_etcd "$ETCD_VERSION" "$dir/bin" "$dir/src/etcd"
    rm -rf "$dir/src"
    echo "$want" > "$stamp"
    log "built $set in $((SECONDS - t0)) s ($(du -sh "$dir" | cut -f1))"
  fi
  echo "$dir"
}

mkdir -p "$out_root"
case "$which" in
  primary) d="$(build_set "$K8S_PRIMARY")"; ln -sfn "$(basename "$d")" "$out_root/current" ;;
  older)   d="$(build_set "$K8S_OLDER")";   ln -sfn "$(basename "$d")" "$out_root/older" ;;
  all)
    d="$(build_set "$K8S_PRIMARY")"; ln -sfn "$(basename "$d")" "$out_root/current"
    d="$(build_set "$K8S_OLDER")";   ln -sfn "$(basename "$d")" "$out_root/older" ;;
  *) echo "usage: $0 [primary|older|all]" >&2; exit 2 ;;
esac
"$out_root/current/bin/kube-apiserver" --version 2>/dev/null || true
