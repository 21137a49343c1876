#!/usr/bin/env bash
# Smoke check of the peer builds (integration/peers/build.sh): each peer really serves
# Kubernetes DNS from a Kubernetes API.
#
#   1. starts an API server: the real etcd + kube-apiserver of integration/k8s/build.sh when
#      their binaries exist (self-signed CA and serving certificate for 127.0.0.1, service-account
#      key pair, static admin token, RBAC), otherwise the repository's kube-apiserver-emulator
#      (HTTPS, same token, RBAC);
#   2. creates with kubectl a ClusterIP Service with an EndpointSlice and a headless Service with
#      an EndpointSlice, plus the matching v1 Endpoints (legacy kube-dns watches Endpoints, CoreDNS
#      watches EndpointSlices; nothing mirrors them without a controller manager);
#   3. starts CoreDNS with Corefile.kube-dns-migration and legacy kube-dns (--kubecfg-file,
#      --dns-port, --domain) on loopback ports, waits until both report ready;
#   4. when node-cache was built, starts it (no interface or iptables set-up) in front of that
#      CoreDNS for the cluster domain;
#   5. asks each with dig for the ClusterIP Service's A record, its SRV record and the headless
#      Service's A records, and prints "N passed, M failed".
#
# Every process it starts and its temporary directory are removed on every exit path (trap).
# When run as root with unshare(1), it re-executes itself in a new network namespace (only
# loopback), so its fixed ports cannot collide with anything else on the machine.
# This is a smoke script; the Rust harness is where the real comparison tests live.
#
# Usage: integration/peers/smoke.sh
# Environment:
#   PEERS_BIN   peer binaries (default <repo>/target/peers/current/bin)
#   K8S_BIN     control-plane binaries (default: first of <repo>/target/k8s/current/bin and
#               /work/main/target/k8s/current/bin that has kube-apiserver)
#   SMOKE_API   auto (default) | real | emulator
#   EMULATOR    kube-apiserver-emulator binary (default: <repo>/target/{release,debug}/…, else
#               built with cargo)
#   KUBECTL     kubectl (default: $K8S_BIN/kubectl, else kubectl on PATH)
#   SMOKE_NETNS 0 to stay in the current network namespace
#   KEEP_TMP    1 to keep the temporary directory (logs) after the run
set -euo pipefail

# Limits of the bounded waits (seconds) and the ports used (inside the namespace).
API_READY_TIMEOUT=${API_READY_TIMEOUT:-120}
DNS_READY_TIMEOUT=60
API_PORT=16443
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
COREDNS_PORT=10053
COREDNS_HEALTH_PORT=18080
COREDNS_READY_PORT=18181
COREDNS_METRICS_PORT=19153
KUBEDNS_PORT=10054
KUBEDNS_HEALTHZ_PORT=18081
NODECACHE_PORT=10055
NODECACHE_HEALTH_PORT=18082
NODECACHE_METRICS_PORT=19353
DOMAIN=cluster.local
ADMIN_TOKEN="smoke-admin-$$-$RANDOM$RANDOM"

root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/integration/peers"

if [ "${SMOKE_NETNS:-1}" = 1 ] && [ -z "${SMOKE_IN_NETNS:-}" ] && [ "$(id -u)" = 0 ] \
  && command -v unshare >/dev/null && unshare --net true 2>/dev/null; then
  export SMOKE_IN_NETNS=1
  exec unshare --net -- bash "$0" "$@"
fi
if [ -n "${SMOKE_IN_NETNS:-}" ]; then
  ip link set lo up
fi

log() { echo "peers-smoke: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/peers-smoke.XXXXXX")"
pids=()
# Processes get SIGTERM (newest first), then SIGKILL if any is still running after
# STOP_TIMEOUT seconds (kube-apiserver's graceful shutdown can take longer).
STOP_TIMEOUT=10
cleanup() {
  local rc=$? pid i alive
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  for _ in $(seq $((STOP_TIMEOUT * 10))); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ "$rc" != 0 ]; then
    local f
    for f in "$tmp"/*.log; do
      [ -f "$f" ] || continue
      log "---- last lines of $(basename "$f")"; tail -15 "$f" >&2
    done
  fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background with its output in $tmp/NAME.log.
start() {
  local name="$1"; shift
  "$@" > "$tmp/$name.log" 2>&1 &
  pids+=("$!")
}

# wait_for WHAT TIMEOUT CMD...: polls CMD every 0.5 s until it succeeds, at most TIMEOUT s.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what not ready after ${timeout} s"
    sleep 0.5
  done
}

# ---- binaries ---------------------------------------------------------------------------
peers="${PEERS_BIN:-$root/target/peers/current/bin}"
for b in coredns kube-dns; do
  [ -x "$peers/$b" ] || die "$peers/$b missing: run integration/peers/build.sh first"
done
if [ -z "${K8S_BIN:-}" ]; then
  for d in "$root/target/k8s/current/bin" /work/main/target/k8s/current/bin; do
    if [ -x "$d/kube-apiserver" ] && [ -x "$d/etcd" ]; then K8S_BIN="$d"; break; fi
  done
fi
api="${SMOKE_API:-auto}"
if [ "$api" = auto ]; then
  if [ -n "${K8S_BIN:-}" ]; then api=real; else api=emulator; fi
fi
kubectl="${KUBECTL:-}"
if [ -z "$kubectl" ]; then
  if [ -n "${K8S_BIN:-}" ] && [ -x "$K8S_BIN/kubectl" ]; then kubectl="$K8S_BIN/kubectl"
  else kubectl="$(command -v kubectl)" || die "no kubectl (set KUBECTL)"; fi
fi
command -v dig >/dev/null || die "dig missing (apt-get install bind9-dnsutils)"
command -v openssl >/dev/null || die "openssl missing"

kubeconfig="$tmp/kubeconfig"

# ---- API server -------------------------------------------------------------------------
# write_kubeconfig CA_FILE: the kubeconfig every client here uses (admin token, system:masters).
write_kubeconfig() {
  cat > "$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: smoke
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $1
users:
- name: smoke-admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: smoke
  context: {cluster: smoke, user: smoke-admin}
current-context: smoke
EOF
}

start_real_api() {
  [ -n "${K8S_BIN:-}" ] || die "SMOKE_API=real but no kube-apiserver/etcd found (set K8S_BIN)"
  local pki="$tmp/pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ca.key -out ca.crt \
      -subj "/CN=peers-smoke-ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > ext.cnf
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile ext.cnf -out apiserver.crt
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) > "$tmp/pki.log" 2>&1 || die "openssl failed (see pki.log)"
  echo "$ADMIN_TOKEN,smoke-admin,smoke-admin,system:masters" > "$pki/tokens.csv"

  start etcd "$K8S_BIN/etcd" --name smoke --data-dir "$tmp/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "smoke=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --token-auth-file "$pki/tokens.csv" --authorization-mode RBAC \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc.$DOMAIN" \
    --service-cluster-ip-range 10.0.0.0/24 --cert-dir "$tmp/apiserver-certs"
  write_kubeconfig "$pki/ca.crt"
  wait_for "kube-apiserver" "$API_READY_TIMEOUT" \
    curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "https://127.0.0.1:$API_PORT/readyz"
  # The namespace controller of the API server creates "default" shortly after /readyz.
  wait_for "namespace default" "$API_READY_TIMEOUT" "$kubectl" --kubeconfig "$kubeconfig" get namespace default
  api_desc="real kube-apiserver $("$K8S_BIN/kube-apiserver" --version | awk '{print $2}') + etcd $("$K8S_BIN/etcd" --version | awk '/etcd Version/ {print $3}') from $K8S_BIN"
}

start_emulator() {
  local emu="${EMULATOR:-}"
  if [ -z "$emu" ]; then
    local d
    for d in "${CARGO_TARGET_DIR:-$root/target}/release" "${CARGO_TARGET_DIR:-$root/target}/debug"; do
      if [ -x "$d/kube-apiserver-emulator" ]; then emu="$d/kube-apiserver-emulator"; break; fi
    done
  fi
  if [ -z "$emu" ]; then
    log "building kube-apiserver-emulator"
    (cd "$root" && cargo build -q -p kube-emulator --bin kube-apiserver-emulator) || die "cargo build failed"
    emu="${CARGO_TARGET_DIR:-$root/target}/debug/kube-apiserver-emulator"
  fi
  echo "$ADMIN_TOKEN,smoke-admin,smoke-admin,system:masters" > "$tmp/tokens.csv"
  mkdir -p "$tmp/emu"
  start emulator "$emu" --bind "127.0.0.1:$API_PORT" --tls-self-signed --rbac \
    --token-file "$tmp/tokens.csv" --kubeconfig-dir "$tmp/emu"
  # The emulator writes its kubeconfig and self-signed certificate (ca.crt) once it listens.
  wait_for "kube-apiserver-emulator" "$API_READY_TIMEOUT" test -s "$tmp/emu/kubeconfig"
  write_kubeconfig "$tmp/emu/ca.crt"
  wait_for "emulator API" "$API_READY_TIMEOUT" "$kubectl" --kubeconfig "$kubeconfig" get namespace default
  api_desc="kube-apiserver-emulator ($emu)"
}

case "$api" in
  real) start_real_api ;;
  emulator) start_emulator ;;
  *) die "SMOKE_API must be auto, real or emulator" ;;
esac
log "API server: $api_desc"

# ---- objects ----------------------------------------------------------------------------
"$kubectl" --kubeconfig "$kubeconfig" apply -f - > "$tmp/kubectl.log" 2>&1 <<'EOF' || die "kubectl apply failed (see kubectl.log)"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.0.0.50
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints: [{addresses: [10.1.0.5], conditions: {ready: true}}]
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets: [{addresses: [{ip: 10.1.0.5}], ports: [{name: http, port: 8080, protocol: TCP}]}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  namespace: default
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
endpoints:
- {addresses: [10.1.0.7], conditions: {ready: true}}
- {addresses: [10.1.0.8], conditions: {ready: true}}
ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: default}
subsets: [{addresses: [{ip: 10.1.0.7}, {ip: 10.1.0.8}], ports: [{name: pg, port: 5432, protocol: TCP}]}]
EOF

# ---- DNS servers ------------------------------------------------------------------------
# Forwarded names go to a resolv.conf of our own (nothing listens there; the smoke check asks
# only cluster names, and CoreDNS's loop plugin just sees its probe fail).
echo "nameserver 127.0.0.1" > "$tmp/resolv.conf"
sed -e "s|__DNS_PORT__|$COREDNS_PORT|g" -e "s|__BIND_ADDR__|127.0.0.1|g" \
  -e "s|__HEALTH_ADDR__|127.0.0.1:$COREDNS_HEALTH_PORT|g" \
  -e "s|__READY_ADDR__|127.0.0.1:$COREDNS_READY_PORT|g" \
  -e "s|__METRICS_ADDR__|127.0.0.1:$COREDNS_METRICS_PORT|g" \
  -e "s|__CLUSTER_DOMAIN__|$DOMAIN|g" -e "s|__KUBECONFIG__|$kubeconfig|g" \
  -e "s|__RESOLV_CONF__|$tmp/resolv.conf|g" "$here/Corefile.kube-dns-migration" > "$tmp/Corefile"
! grep -v '^#' "$tmp/Corefile" | grep -q '__[A-Z_]*__' || die "unsubstituted placeholder in the Corefile"
start coredns "$peers/coredns" -conf "$tmp/Corefile"
start kube-dns "$peers/kube-dns" --kubecfg-file "$kubeconfig" --domain "$DOMAIN" \
  --dns-bind-address 127.0.0.1 --dns-port "$KUBEDNS_PORT" --healthz-port "$KUBEDNS_HEALTHZ_PORT"
wait_for "coredns /ready" "$DNS_READY_TIMEOUT" curl -sf "http://127.0.0.1:$COREDNS_READY_PORT/ready"
wait_for "kube-dns /readiness" "$DNS_READY_TIMEOUT" curl -sf "http://127.0.0.1:$KUBEDNS_HEALTHZ_PORT/readiness"
log "coredns: $("$peers/coredns" -version | head -1); kube-dns: $("$peers/kube-dns" --version)"

# node-cache (when built): NodeLocal DNSCache in front of the cluster DNS. Its template Corefile
# sends the cluster domain to the CoreDNS above (node-cache substitutes the cluster DNS IP from
# $KUBE_DNS_SERVICE_HOST, as in a pod) and everything else to the same upstream as CoreDNS
# (instead of node-cache's __PILLAR__UPSTREAM__SERVERS__, which it takes from the host's
# /etc/resolv.conf); no interface or iptables set-up.
nodecache=0
if [ -x "$peers/node-cache" ]; then
  nodecache=1
  cat > "$tmp/Corefile.base" <<EOF
$DOMAIN:$NODECACHE_PORT {
    errors
    bind __PILLAR__LOCAL__DNS__
    cache 30
    forward . __PILLAR__CLUSTER__DNS__:$COREDNS_PORT {
        force_tcp
    }
}
.:$NODECACHE_PORT {
    errors
    bind __PILLAR__LOCAL__DNS__
    cache 30
    forward . $tmp/resolv.conf
}
EOF
  start node-cache env KUBE_DNS_SERVICE_HOST=127.0.0.1 "$peers/node-cache" -localip 127.0.0.1 \
    -basecorefile "$tmp/Corefile.base" -conf "$tmp/Corefile.node-cache" \
    -setupinterface=false -setupiptables=false -skipteardown \
    -health-port "$NODECACHE_HEALTH_PORT" -metrics-listen-address "127.0.0.1:$NODECACHE_METRICS_PORT"
  wait_for "node-cache" "$DNS_READY_TIMEOUT" \
    dig +short +time=1 +tries=1 -p "$NODECACHE_PORT" @127.0.0.1 "web.default.svc.$DOMAIN" A
  log "node-cache: $("$peers/node-cache" -help 2>&1 | grep -m1 -o 'CoreDNS v[^ ]*')"
fi

# ---- checks -----------------------------------------------------------------------------
passed=0
failed=0
# check SERVER PORT NAME TYPE EXPECTED: EXPECTED is the sorted answer data, one record per line;
# for SRV only "port target" is compared (priority and weight differ between servers).
check() {
  local server="$1" port="$2" name="$3" type="$4" want="$5" got
  got="$(dig +short +time=2 +tries=2 -p "$port" @127.0.0.1 "$name" "$type" 2>&1 || true)"
  if [ "$type" = SRV ]; then got="$(awk '{print $3, $4}' <<<"$got")"; fi
  got="$(sort <<<"$got")"
  if [ "$got" = "$want" ]; then
    passed=$((passed + 1)); log "ok   $server $type $name"
  else
    failed=$((failed + 1)); log "FAIL $server $type $name: want [$want] got [$got]"
  fi
}
servers="coredns kube-dns"
[ "$nodecache" = 0 ] || servers+=" node-cache"
for server in $servers; do
  case "$server" in
    coredns) port="$COREDNS_PORT" ;;
    kube-dns) port="$KUBEDNS_PORT" ;;
    node-cache) port="$NODECACHE_PORT" ;;
  esac
  check "$server" "$port" "web.default.svc.$DOMAIN" A "10.0.0.50"
  check "$server" "$port" "_http._tcp.web.default.svc.$DOMAIN" SRV "80 web.default.svc.$DOMAIN."
  check "$server" "$port" "db.default.svc.$DOMAIN" A "$(printf '10.1.0.7\n10.1.0.8')"
done
log "ran against: $api_desc"
echo "peers smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
