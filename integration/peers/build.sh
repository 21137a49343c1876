#!/usr/bin/env bash
# Builds the peer DNS servers of the benchmark suite and the legacy-comparison test from their
# published Go modules, at the pinned versions below (issue 16, item 1):
#
#   coredns     github.com/coredns/coredns at $COREDNS_VERSION. Its main package is the module
#               root; the default plugin list is generated into core/plugin/zplugin.go inside the
#               module, so a plain build carries every default plugin (checked after the build:
#               `coredns -plugins` must list the plugins of the migration Corefile).
#   kube-dns    legacy kube-dns (k8s.io/dns/cmd/kube-dns) and NodeLocal DNSCache's node-cache
#   node-cache  (k8s.io/dns/cmd/node-cache) from the k8s.io/dns module at the commit of the
#               release tag $KUBE_DNS_TAG. The repository's tags (1.26.x) are not Go semver
#               tags, so the pin is a commit.
#
# How the kube-dns pin was found and verified (facts only, nothing copied):
#   * 1.26.8 is the newest release tag of kubernetes/dns: cut on 2026-03-27 (kubernetes/dns
#     issue 759); kubernetes/kubernetes PR 138610 (2026-04-27) bumps kube-dns and nodelocaldns
#     to 1.26.8 and calls it "most likely the last release of kubernetes/dns" (the repository is
#     being archived; node-cache moved to kubernetes-sigs/node-local-dns).
#   * The tag's commit is 9aa70b8f97dc751445a7370960cd45e411506003: Wolfi's package recipe
#     kubernetes-dns-node-cache.yaml (version 1.26.8) checks out tag 1.26.8 with
#     `expected-commit: 9aa70b8f97dc...`, i.e. its build fails unless the tag resolves to it.
#   * A full Go module proxy turns `k8s.io/dns@<commit>` into the pseudo-version
#     v0.0.0-<commit time>-9aa70b8f97dc. A proxy that serves only exact versions (as the mirror
#     of this development machine does: it answers 403 "This module version is not available"
#     to every query that is not an exact, already-known version: @latest, @v/list, branch
#     names, commit hashes) cannot resolve the commit, and the commit time that would complete
#     the pseudo-version is not in any public text we could find. Then set KUBE_DNS_MODULE_VERSION
#     to the full pseudo-version (checked against the pinned commit), or KUBE_DNS_SRC to a
#     checkout of the tag (trusted as is: --version then prints the tag), and run again.
#   * Until then the script falls back to $KUBE_DNS_FALLBACK, the newest k8s.io/dns version the
#     proxy here serves that we know of (the master commit of 2023-03-31, taken from a public
#     go.mod that requires it; between the 1.22.x releases; like 1.26.x it watches Services and
#     v1 Endpoints only). versions.txt in the output set records which one was built, and the
#     build log says FALLBACK loudly. KUBE_DNS_FALLBACK= (empty) disables the fallback.
#   * The module graph of k8s.io/dns names inet.af/netaddr (through CoreDNS's dd-trace-go), whose
#     host the proxy here does not serve; see UNSERVED_MODULES below. Neither kube-dns nor
#     node-cache compiles a package of it, so both build with Go 1.26. Should node-cache ever fail
#     to compile, the script logs the compiler error, records it in versions.txt and still
#     installs kube-dns.
#
# Also built when they compile (not required): dnsmasq-nanny and sidecar, the other two
# containers of the legacy kube-dns pod.
#
# Output: target/peers/<set>/bin/{coredns,kube-dns[,node-cache,dnsmasq-nanny,sidecar]} where
# <set> = coredns-<version>_kube-dns-<tag>_<go version>, plus versions.txt (module@version of
# every binary, or why it is missing). Each peer has its own stamp (pins + Go version + this
# script's hash); a peer whose stamp matches is not rebuilt. target/peers/current points at the
# set. Build time, module-cache growth and binary size are logged per peer.
#
# Usage: integration/peers/build.sh [all|coredns|kube-dns]   (default: all)
# Environment: KUBE_DNS_RS_PEERS_OUT (default <repo>/target/peers), KUBE_DNS_MODULE_VERSION,
# KUBE_DNS_SRC, KUBE_DNS_FALLBACK (see above).
set -euo pipefail

# ---- pins -------------------------------------------------------------------------------
COREDNS_VERSION=v1.15.0                                  # newest stable on the proxy, 2026-12-03
KUBE_DNS_TAG=1.26.8                                      # newest (and last) kubernetes/dns release
KUBE_DNS_COMMIT=9aa70b8f97dc751445a7370960cd45e411506003  # the commit tag 1.26.8 points at
KUBE_DNS_FALLBACK="${KUBE_DNS_FALLBACK-v0.0.0-20230331134350-76795c66ba55}"
# -----------------------------------------------------------------------------------------
# Plugins the migration Corefile (Corefile.kube-dns-migration) uses; the CoreDNS build fails
# unless `coredns -plugins` lists every one.
COREDNS_REQUIRED_PLUGINS="errors health ready kubernetes prometheus forward cache loop reload loadbalance"
# Modules in the build graph of k8s.io/dns that the module proxy does not serve (its host is not
# on the proxy's allowlist here). Each is replaced by an empty local module (a go.mod only) so
# that the module graph loads; a build that compiles one of their packages fails and says so.
UNSERVED_MODULES="inet.af/netaddr"
# k8s.io/dns commands built besides kube-dns, each optional (see build_kube_dns).
KUBE_DNS_OPTIONAL_CMDS="node-cache dnsmasq-nanny sidecar"

root="$(cd "$(dirname "$0")/../.." && pwd)"
which="${1:-all}"
out_root="${KUBE_DNS_RS_PEERS_OUT:-$root/target/peers}"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"
export CGO_ENABLED=0
go_version="$(go env GOVERSION)"
go_minor="$(echo "$go_version" | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
script_hash="$(sha256sum "$0" | cut -c1-12)"
modcache="$(go env GOMODCACHE)"

log() { echo "peers-build: $*" >&2; }
modcache_mb() { du -sm "$modcache" 2>/dev/null | cut -f1; }

set_name="coredns-${COREDNS_VERSION}_kube-dns-${KUBE_DNS_TAG}_${go_version}"
dir="$out_root/$set_name"
bin="$dir/bin"
versions="$dir/versions.txt"

# record KEY LINE: replaces the versions.txt line of KEY (one line per binary).
record() {
  local key="$1" line="$2"
  touch "$versions"
  grep -v "^$key " "$versions" > "$versions.tmp" || true
  echo "$key $line" >> "$versions.tmp"
  sort "$versions.tmp" > "$versions" && rm -f "$versions.tmp"
}

# fresh PEER WANT: true when PEER's stamp already says WANT.
fresh() { [ -f "$dir/.stamp-$1" ] && [ "$(cat "$dir/.stamp-$1")" = "$2" ]; }

# Logs "built PEER in N s, module cache +M MB, sizes" for one peer.
report() {
  local peer="$1" t0="$2" mc0="$3"; shift 3
  local sizes="" f
  for f in "$@"; do sizes+=" $(basename "$f")=$(du -h "$f" | cut -f1)"; done
  log "built $peer in $((SECONDS - t0)) s, module cache +$(( $(modcache_mb) - mc0 )) MB,$sizes"
}

build_coredns() {
  local want="$COREDNS_VERSION $go_version $script_hash"
  if fresh coredns "$want" && [ -x "$bin/coredns" ]; then log "up to date: coredns"; return 0; fi
  local t0=$SECONDS mc0 work="$dir/src/coredns"
  mc0="$(modcache_mb)"
  rm -rf "$work" && mkdir -p "$work" "$bin"
  cat > "$work/go.mod" <<GOMOD
module kube-dns-rs.local/coredns-build

go $go_minor

require github.com/coredns/coredns $COREDNS_VERSION
GOMOD
  cat > "$work/tools.go" <<'GO'
//go:build tools

// Package tools pins the CoreDNS command this module builds.
package tools

import _ "github.com/coredns/coredns"
GO
  log "resolving github.com/coredns/coredns@$COREDNS_VERSION"
  (cd "$work" && go mod tidy >/dev/null) || { log "go mod tidy failed for coredns"; return 1; }
  log "building coredns $COREDNS_VERSION"
  (cd "$work" && go build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
    -o "$bin/coredns" github.com/coredns/coredns) || { log "coredns build failed"; return 1; }
  local plugins missing="" p
  plugins="$("$bin/coredns" -plugins)" || { log "coredns -plugins failed"; return 1; }
  for p in $COREDNS_REQUIRED_PLUGINS; do
    grep -qx "$p" <<<"$plugins" || missing+=" $p"
  done
  if [ -n "$missing" ]; then
    log "coredns $COREDNS_VERSION lacks plugins:$missing"; rm -f "$bin/coredns"; return 1
  fi
  rm -rf "$work"
  record coredns "github.com/coredns/coredns@$COREDNS_VERSION"
  echo "$want" > "$dir/.stamp-coredns"
  report coredns "$t0" "$mc0" "$bin/coredns"
}

# download_kube_dns VERSION: prints the module version the proxy resolves VERSION to; logs the
# proxy's error and fails when it cannot.
download_kube_dns() {
  local probe="$dir/src/probe" info
  mkdir -p "$probe"
  if info="$(cd "$probe" && GOFLAGS=-mod=mod go mod download -json "k8s.io/dns@$1" 2>&1)" \
    && ! grep -q '"Error"' <<<"$info"; then
    sed -n 's/.*"Version": "\(.*\)".*/\1/p' <<<"$info" | head -1
    return 0
  fi
  log "k8s.io/dns@$1: $(grep -o '"Error": ".*"' <<<"$info" | head -1 || echo "$info" | tail -1)"
  return 1
}

# Prints the k8s.io/dns module version to build: the pin (KUBE_DNS_MODULE_VERSION or the commit),
# which must resolve to the pinned commit, else the fallback (logged as FALLBACK). Fails when
# neither is available.
resolve_kube_dns() {
  local got
  if got="$(download_kube_dns "${KUBE_DNS_MODULE_VERSION:-$KUBE_DNS_COMMIT}")"; then
    if [ "${got##*-}" != "${KUBE_DNS_COMMIT:0:12}" ]; then
      log "k8s.io/dns@${KUBE_DNS_MODULE_VERSION:-$KUBE_DNS_COMMIT} resolved to $got, which is not" \
        "commit ${KUBE_DNS_COMMIT:0:12} of tag $KUBE_DNS_TAG"
      return 1
    fi
    echo "$got"
    return 0
  fi
  [ -n "$KUBE_DNS_FALLBACK" ] || return 1
  got="$(download_kube_dns "$KUBE_DNS_FALLBACK")" || return 1
  log "FALLBACK: k8s.io/dns@${KUBE_DNS_MODULE_VERSION:-$KUBE_DNS_COMMIT} (tag $KUBE_DNS_TAG)" \
    "is not served by this module proxy; building kube-dns from k8s.io/dns@$got instead"
  echo "$got"
}

# Writes a wrapper module requiring k8s.io/dns (module version $1, or the checkout $KUBE_DNS_SRC)
# with the replace lines of k8s.io/dns's own go.mod (Go ignores a dependency's replaces), then
# builds kube-dns and, if it compiles, node-cache.
build_kube_dns() {
  local ver label gomod
  local work="$dir/src/kube-dns"
  if [ -n "${KUBE_DNS_SRC:-}" ]; then
    ver="v0.0.0-00010101000000-000000000000"; label="$KUBE_DNS_SRC (KUBE_DNS_SRC)"
    gomod="$KUBE_DNS_SRC/go.mod"
  else
    ver="$(resolve_kube_dns)" || { log "cannot get k8s.io/dns: kube-dns and the other k8s.io/dns commands not built"; return 1; }
    label="k8s.io/dns@$ver"
    gomod="$(cd "$dir/src/probe" && GOFLAGS=-mod=mod go mod download -json "k8s.io/dns@$ver" \
      | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  fi
  local want="$label $go_version $script_hash"
  if fresh kube-dns "$want" && [ -x "$bin/kube-dns" ]; then log "up to date: kube-dns ($label)"; return 0; fi
  local t0=$SECONDS mc0
  mc0="$(modcache_mb)"
  rm -rf "$work" && mkdir -p "$work" "$bin"
  rm -f "$bin/kube-dns"
  for m in $KUBE_DNS_OPTIONAL_CMDS; do rm -f "$bin/$m"; done
  local m
  for m in $UNSERVED_MODULES; do
    mkdir -p "$work/unserved/$m"
    printf 'module %s\n\ngo 1.12\n' "$m" > "$work/unserved/$m/go.mod"
  done
  {
    echo "module kube-dns-rs.local/kube-dns-build"
    echo
    echo "go $go_minor"
    echo
    echo "require k8s.io/dns $ver"
    echo
    echo "replace ("
    [ -z "${KUBE_DNS_SRC:-}" ] || echo "	k8s.io/dns => $KUBE_DNS_SRC"
    for m in $UNSERVED_MODULES; do echo "	$m => ./unserved/$m"; done
    # Single-line and block replace directives of k8s.io/dns's go.mod that point at a module
    # version (not at a local directory).
    sed -n -e 's/^replace[[:space:]]\{1,\}\([^(].* => [^.\/].*\)$/\t\1/p' \
      -e '/^replace[[:space:]]*(/,/^)/{/=>[[:space:]]*[^.\/[:space:]]/s/^[[:space:]]*/\t/p}' "$gomod"
    echo ")"
  } > "$work/go.mod"
  cat > "$work/tools.go" <<'GO'
//go:build tools

// Package tools pins the k8s.io/dns commands this module builds.
package tools

import (
	_ "k8s.io/dns/cmd/dnsmasq-nanny"
	_ "k8s.io/dns/cmd/kube-dns"
	_ "k8s.io/dns/cmd/node-cache"
	_ "k8s.io/dns/cmd/sidecar"
)
GO
  log "resolving $label"
  # -e: tidy also walks the tests of dependencies, some of which import an unserved module;
  # the build below fails loudly if a binary really needs one.
  (cd "$work" && go mod tidy -e >/dev/null 2>"$work/tidy.err") \
    || { cat "$work/tidy.err" >&2; log "go mod tidy failed for $label"; return 1; }
  grep -v '^go: downloading' "$work/tidy.err" | grep -q . \
    && log "go mod tidy -e reported (tests of dependencies only, unless a build below fails):" \
    && grep -v '^go: downloading' "$work/tidy.err" | tail -3 >&2
  # The version kube-dns --version prints: the release tag for the pinned commit, the module
  # version otherwise.
  local shown="$KUBE_DNS_TAG"
  [ -n "${KUBE_DNS_SRC:-}" ] || [ "${ver##*-}" = "${KUBE_DNS_COMMIT:0:12}" ] || shown="$ver"
  local ldflags="-s -w -X k8s.io/dns/pkg/version.VERSION=$shown"
  log "building kube-dns ($label)"
  (cd "$work" && go build -ldflags "$ldflags" -o "$bin/kube-dns" k8s.io/dns/cmd/kube-dns) \
    || { log "kube-dns does not build from $label"; return 1; }
  "$bin/kube-dns" --version >&2 || { log "kube-dns --version failed"; return 1; }
  local note=""
  [ "$shown" = "$KUBE_DNS_TAG" ] || note=" (FALLBACK: tag $KUBE_DNS_TAG, commit ${KUBE_DNS_COMMIT:0:12}, is not served by this module proxy)"
  record kube-dns "$label$note"
  report kube-dns "$t0" "$mc0" "$bin/kube-dns"
  # The other commands are optional: a failure is logged with the compiler's error and
  # recorded in versions.txt, and kube-dns stays installed.
  local cmd err
  for cmd in $KUBE_DNS_OPTIONAL_CMDS; do
    t0=$SECONDS; mc0="$(modcache_mb)"
    log "building $cmd ($label)"
    if err="$(cd "$work" && go build -ldflags "$ldflags" -o "$bin/$cmd" "k8s.io/dns/cmd/$cmd" 2>&1)"; then
      case "$cmd" in
        # node-cache has no version flag; its usage names the CoreDNS it embeds.
        node-cache) "$bin/$cmd" -help 2>&1 | grep -m1 'Runs CoreDNS' >&2 || true ;;
        sidecar) "$bin/$cmd" --version 2>/dev/null | tail -1 >&2 || true ;;
        *) ;; # dnsmasq-nanny has no version flag
      esac
      record "$cmd" "$label$note"
      report "$cmd" "$t0" "$mc0" "$bin/$cmd"
    else
      rm -f "$bin/$cmd"
      log "$cmd does not build from $label with $go_version ($((SECONDS - t0)) s):"
      echo "$err" | grep -v '^go: downloading' | head -20 >&2
      record "$cmd" "NOT BUILT from $label with $go_version: $(echo "$err" | grep -v '^go: downloading' | grep -v '^#' | head -1)"
    fi
  done
  rm -rf "$work"
  echo "$want" > "$dir/.stamp-kube-dns"
}

mkdir -p "$out_root" "$bin"
status=0
case "$which" in
  all) build_coredns || status=1; build_kube_dns || status=1 ;;
  coredns) build_coredns || status=1 ;;
  kube-dns) build_kube_dns || status=1 ;;
  *) echo "usage: $0 [all|coredns|kube-dns]" >&2; exit 2 ;;
esac
rm -rf "$dir/src"
ln -sfn "$set_name" "$out_root/current"
log "set: $dir ($(du -sh "$dir" | cut -f1))"
[ ! -f "$versions" ] || sed 's/^/peers-build:   /' "$versions" >&2
[ ! -x "$bin/coredns" ] || "$bin/coredns" -version | head -1 >&2
exit "$status"
