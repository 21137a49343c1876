#!/usr/bin/env bash
# kube-dns-rs benchmark suite (issues 7 and 16). Usage and method: integration/bench/README.md.
#
#   integration/bench/run.sh [--quick] [--no-build] [--keep-work] SCENARIO...
#   SCENARIO: cache-hit | miss | auth | both-cores | two-workers | rfc5452 | zipf | scale | large |
#             auth-k8s | scale-k8s | all
#
# Everything runs on 127.0.0.1. Servers are pinned to CPU 0 and dnsperf to CPU 1 (taskset),
# except in both-cores and two-workers. Server CPU per query comes from /proc/<pid>/stat
# (utime+stime) deltas around each dnsperf run. Every process this script starts is killed on
# exit (trap); every wait loop is bounded. Results: integration/bench/results/<UTC stamp>.{md,csv,png}
# and latest.{md,csv,png}; raw dnsperf output stays in the work directory (printed at the end).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
REL=$TARGET/release
RESULTS=$BENCH_DIR/results

# ---- settings (environment overrides) --------------------------------------------------------
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-15300}
UP_PORT=$((PORT_BASE + 54))     # upstream authority (Debian dnsmasq)
FRONT_PORT=$((PORT_BASE + 53))  # server under test
API_PORT=$((PORT_BASE + 80))    # API emulator (scenario auth)
HZ_PORT=$((PORT_BASE + 81))     # kubedns healthz (scenario auth)
PROM_PORT=$((PORT_BASE + 82))   # CoreDNS / node-cache prometheus plugin (cache hit ratio)
GO_HEALTH_PORT=$((PORT_BASE + 83))  # CoreDNS / node-cache health plugin
GO_READY_PORT=$((PORT_BASE + 84))   # CoreDNS ready plugin
NC_METRICS_PORT=$((PORT_BASE + 85)) # node-cache's own metrics listener
PEERS=${PEERS:-$REPO/target/peers/current}  # CoreDNS / node-cache built by integration/peers/build.sh

QUICK=0
BUILD=1
KEEP_WORK=0
SCENARIOS=()
ALL_SCENARIOS=(cache-hit miss auth both-cores two-workers rfc5452 zipf scale large auth-k8s scale-k8s)

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        --keep-work) KEEP_WORK=1 ;;
        -h|--help) usage 0 ;;
        all) SCENARIOS=("${ALL_SCENARIOS[@]}") ;;
        cache-hit|miss|auth|both-cores|two-workers|rfc5452|zipf|scale|large|auth-k8s|scale-k8s) SCENARIOS+=("$a") ;;
        *) echo "run.sh: unknown argument: $a" >&2; usage 2 ;;
    esac
done
[ ${#SCENARIOS[@]} -gt 0 ] || usage 2

if [ "$QUICK" = 1 ]; then
    DUR=${DUR:-3}; LAT_DUR=${LAT_DUR:-2}; ZIPF_SECS=${ZIPF_SECS:-15}
    SCALE_ARGS=${SCALE_ARGS:---services 1000 --endpoints 10000 --namespaces 10 --phase-secs 4}
    K8S_GEN_ARGS=${K8S_GEN_ARGS:---big 2000 --missing 2000}
    SCALE_K8S_ARGS=${SCALE_K8S_ARGS:---services 1000 --endpoints 10000 --namespaces 10 --secs 5}
else
    DUR=${DUR:-12}; LAT_DUR=${LAT_DUR:-5}; ZIPF_SECS=${ZIPF_SECS:-120}
    SCALE_ARGS=${SCALE_ARGS:---phase-secs 20}
    K8S_GEN_ARGS=${K8S_GEN_ARGS:-}
    SCALE_K8S_ARGS=${SCALE_K8S_ARGS:-}
fi
LAT_QPS=${LAT_QPS:-20000}     # fixed rate of the latency-percentile runs
FIXED_QPS=${FIXED_QPS:-40000} # fixed rate of the cache-hit CPU/query run below saturation (issue 16)
WORKERS_QPS=${WORKERS_QPS:-60000}  # fixed rate of the two-workers CPU/query runs
RFC5452_QUERIES=${RFC5452_QUERIES:-3000}  # upstream queries recorded in the rfc5452 scenario
RFC5452_QPS=${RFC5452_QPS:-1000}
ZIPF_QPS=${ZIPF_QPS:-5000}    # rate of the Zipf stream
ZIPF_NAMES=${ZIPF_NAMES:-100000}
SAT_ARGS=(-c 10 -q 200)       # saturation runs (as in crates-and-perf.md §7)
MISS_ARGS=(-c 10 -q 100)      # forward path: stay below dnsmasq's --dns-forward-max=150

STAMP=$(date -u +%Y%m%d-%H%M%S)
[ "$QUICK" = 1 ] && STAMP=$STAMP-quick
WORK=$(mktemp -d "/tmp/kube-dns-bench.$STAMP.XXXX")
CSV_RAW=$WORK/rows.csv
COND=$WORK/conditions.tsv  # scenario<TAB>server<TAB>conditions (flags, config, pinning) per row
META=$WORK/meta.txt        # key=value: source revision, tree state, peer versions
CONFIGS=$WORK/configs      # every config file a server ran with (embedded in the results .md)
: > "$CSV_RAW"
: > "$COND"
: > "$META"
mkdir -p "$CONFIGS"
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- process bookkeeping ---------------------------------------------------------------------
PIDS=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        # bounded: 30 x 0.1 s, then SIGKILL
        local i
        for i in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    if [ "$KEEP_WORK" = 0 ] && [ "$rc" = 0 ]; then
        rm -rf "$WORK"
    else
        log "work directory kept: $WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : runs CMD in the background (log in $WORK/NAME.log), records its PID in $LAST_PID.
start() {
    local name=$1; shift
    "$@" > "$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# forget PID: drop from the kill-on-exit list (after it was reaped).
forget() {
    local keep=() i
    for i in "${PIDS[@]}"; do [ "$i" = "$1" ] || keep+=("$i"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

# stop PID: SIGTERM, bounded wait, SIGKILL.
stop() {
    local p=$1 i
    kill "$p" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    forget "$p"
}

# wait_dns PORT NAME TYPE [TRIES]: until the server answers (any rcode); 0.1 s per try.
# Gives up early when the last started process ($LAST_PID) has exited.
wait_dns() {
    local port=$1 name=$2 type=$3 tries=${4:-100} i
    for i in $(seq "$tries"); do
        kill -0 "$LAST_PID" 2>/dev/null || return 1
        if dig @127.0.0.1 -p "$port" +time=1 +tries=1 +short "$name" "$type" > /dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# wait_http URL [TRIES]: until HTTP 200; 0.05 s per try.
wait_http() {
    local url=$1 tries=${2:-1200} i
    for i in $(seq "$tries"); do
        kill -0 "$LAST_PID" 2>/dev/null || return 1
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# ticks PID: utime + stime of PID plus cutime + cstime of its reaped children (dnsmasq answers
# each TCP connection in a forked child; those children are reaped when the connection ends).
ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] + f[14] + f[15] }' "/proc/$1/stat"; }

# row SCENARIO SERVER METRIC VALUE UNIT
row() { [[ "$2" != *,* ]] || die "row label with a comma: $2"; printf '%s,%s,%s,%s,%s\n' "$1" "$2" "$3" "$4" "$5" >> "$CSV_RAW"; }

# cond SCENARIO SERVER TEXT: the conditions one row ran under (shown under its table).
cond() { printf '%s\t%s\t%s\n' "$1" "$2" "${3//$WORK\//}" >> "$COND"; }

# cpustat -> "idle total" jiffies of the whole machine (/proc/stat, idle + iowait as idle).
cpustat() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t; exit }' /proc/stat; }
# idle_pct "IDLE0 TOTAL0" "IDLE1 TOTAL1" -> idle share of all CPUs in between, percent
idle_pct() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.1f", (d > 0 ? (y[1] - x[1]) / d * 100 : 0) }'; }

chaos() { # chaos PORT NAME -> number
    dig @127.0.0.1 -p "$1" +time=2 +tries=1 +short chaos txt "$2" | tr -d '"' | head -1
}

# ---- tools and build -------------------------------------------------------------------------
ensure_tools() {
    local missing=()
    command -v dnsperf > /dev/null || missing+=(dnsperf)
    command -v dnsmasq > /dev/null || missing+=(dnsmasq-base)
    command -v unbound > /dev/null || missing+=(unbound)
    command -v gnuplot > /dev/null || missing+=(gnuplot-nox)
    command -v dig > /dev/null || missing+=(bind9-dnsutils)
    command -v curl > /dev/null || missing+=(curl)
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; run as root or: apt-get install ${missing[*]}"
        log "installing ${missing[*]}"
        timeout 300 apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    command -v taskset > /dev/null || die "taskset (util-linux) is required"
    command -v python3 > /dev/null || die "python3 is required"
    [ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU)"
}

# needed_bins: the release binaries the chosen scenarios use (a forwarder-only run does not build
# kubedns, a kubedns-only run does not build dnsmasq-rs).
needed_bins() {
    local s need=()
    for s in "${SCENARIOS[@]}"; do
        case "$s" in
            cache-hit|miss|both-cores|two-workers|rfc5452|zipf) need+=(dnsmasq-rs) ;;
            auth|large) need+=(kubedns kube-apiserver-emulator) ;;
            scale) need+=(kubedns bench_scale) ;;
            auth-k8s|scale-k8s) need+=(kubedns bench_k8s) ;;
            *) die "needed_bins: no entry for scenario $s" ;;
        esac
    done
    printf '%s\n' "${need[@]}" | sort -u
}

build() {
    local bins b pkgs=()
    mapfile -t bins < <(needed_bins)
    for b in "${bins[@]}"; do
        case "$b" in
            kubedns|dnsmasq-rs) pkgs+=(-p "$b") ;;
            kube-apiserver-emulator) pkgs+=(-p kube-emulator) ;;
            bench_scale|bench_k8s) pkgs+=(-p bench) ;;
            *) die "build: no package for binary $b" ;;
        esac
    done
    if [ "$BUILD" = 1 ]; then
        log "building release binaries ${bins[*]} (target $TARGET)"
        mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | paste -d' ' - - | sort -u | tr ' ' '\n')
        (cd "$REPO" && CARGO_TARGET_DIR=$TARGET nice -n 19 cargo build --release -q "${pkgs[@]}")
    fi
    for b in "${bins[@]}"; do
        [ -x "$REL/$b" ] || die "missing $REL/$b (build failed or --no-build without a build)"
    done
}

# ---- servers ---------------------------------------------------------------------------------
# upstream CONF: Debian dnsmasq authority for the test names on UP_PORT, pinned to SERVER_CPU.
# Its --cache-size must not be 0: dnsmasq sizes the hash table holding host-records from it, and
# with 0 every lookup walks one long chain (measured: p50 43 ms with 100k records).
start_upstream() {
    start upstream taskset -c "$SERVER_CPU" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
        --user=root --bind-interfaces --listen-address=127.0.0.1 --port="$UP_PORT" --no-resolv --no-hosts \
        --local=/test/ --local-ttl=3600 --cache-size=10000 --conf-file="$1" --log-facility="$WORK/upstream-dnsmasq.log"
    UP_PID=$LAST_PID
    wait_dns "$UP_PORT" h0.bench.test A 300 || die "upstream dnsmasq did not start: $(tail -5 "$WORK/upstream.log")"
}

# start_front KIND CACHE [CPUS] [WORKERS]: caching forwarder under test on FRONT_PORT -> FRONT_PID,
# FRONT_COND (its conditions: pinning, key flags, config file). CACHE 0 = no cache (forward path).
start_front() {
    local kind=$1 cache=$2 cpus=${3:-$SERVER_CPU} workers=${4:-1}
    local pin=(taskset -c "$cpus")
    case "$kind" in
        dnsmasq-rs)
            local args=(-k --conf-file=/dev/null --user=root --bind-interfaces --listen-address=127.0.0.1
                --port="$FRONT_PORT" --no-resolv --no-hosts --cache-size="$cache" --server="127.0.0.1#$UP_PORT"
                --workers="$workers" --log-facility="$WORK/front-$kind.log")
            start "front-$kind-$cache-$workers" "${pin[@]}" "$REL/dnsmasq-rs" "${args[@]}"
            FRONT_COND="CPU $cpus; dnsmasq-rs ${args[*]}" ;;
        dnsmasq)
            local args=(--keep-in-foreground --conf-file=/dev/null --pid-file= --user=root --bind-interfaces
                --listen-address=127.0.0.1 --port="$FRONT_PORT" --no-resolv --no-hosts --cache-size="$cache"
                --server="127.0.0.1#$UP_PORT" --log-facility="$WORK/front-$kind.log")
            start "front-$kind-$cache" "${pin[@]}" dnsmasq "${args[@]}"
            FRONT_COND="CPU $cpus; dnsmasq ${args[*]} (defaults: dns-forward-max 150, no query log)" ;;
        unbound)
            local conf=$CONFIGS/unbound-cache$cache.conf
            {
                echo "server:"
                echo "  interface: 127.0.0.1"
                echo "  port: $FRONT_PORT"
                echo "  num-threads: 1"
                echo "  module-config: \"iterator\""
                echo "  do-not-query-localhost: no"
                echo "  local-zone: \"test.\" nodefault"
                echo "  so-rcvbuf: 4m"
                echo "  username: \"\""
                echo "  chroot: \"\""
                echo "  pidfile: \"\""
                echo "  use-syslog: no"
                echo "  verbosity: 0"
                if [ "$cache" = 0 ]; then
                    # unbound cannot switch its cache off; a zero maximum TTL expires every entry at once.
                    echo "  cache-max-ttl: 0"
                    echo "  cache-max-negative-ttl: 0"
                else
                    echo "  msg-cache-size: 64m"
                    echo "  rrset-cache-size: 128m"
                fi
                echo "remote-control:"
                echo "  control-enable: no"
                echo "forward-zone:"
                echo "  name: \"test.\""
                echo "  forward-addr: 127.0.0.1@$UP_PORT"
            } > "$conf"
            start "front-$kind-$cache" "${pin[@]}" unbound -d -c "$conf"
            FRONT_COND="CPU $cpus; unbound -d -c $(basename "$conf") (1 thread, iterator only, forward-zone test. to the upstream)" ;;
        coredns)
            # As its operators run it: the non-kubernetes part of kubeadm's Corefile
            # (../peers/Corefile.kube-dns-migration: errors, health, ready, prometheus, forward with
            # max_concurrent 1000, cache 30, loop, reload, loadbalance; no log plugin). The cache
            # is sized like the others' (10000 success + 10000 denial entries); CACHE 0 drops it.
            local conf=$CONFIGS/Corefile.coredns-cache$cache
            {
                echo ".:$FRONT_PORT {"
                echo "    bind 127.0.0.1"
                echo "    errors"
                echo "    health 127.0.0.1:$GO_HEALTH_PORT {"
                echo "       lameduck 5s"
                echo "    }"
                echo "    ready 127.0.0.1:$GO_READY_PORT"
                echo "    prometheus 127.0.0.1:$PROM_PORT"
                echo "    forward . 127.0.0.1:$UP_PORT {"
                echo "       max_concurrent 1000"
                echo "    }"
                if [ "$cache" != 0 ]; then
                    echo "    cache 30 {"
                    echo "       success $cache"
                    echo "       denial $cache"
                    echo "    }"
                fi
                echo "    loop"
                echo "    reload"
                echo "    loadbalance"
                echo "}"
            } > "$conf"
            [ -x "$PEERS/bin/coredns" ] || die "missing $PEERS/bin/coredns (integration/peers/build.sh coredns)"
            # GOMAXPROCS=1: one core, like the other servers (the Go runtime would size itself to
            # the machine's CPUs, not to the taskset mask, on older Go; be explicit).
            start "front-$kind-$cache" "${pin[@]}" env GOMAXPROCS=1 "$PEERS/bin/coredns" -conf "$conf"
            FRONT_COND="CPU $cpus, GOMAXPROCS=1; coredns -conf $(basename "$conf") ($(tr -s ' \n' ' ' < "$conf" | sed 's/  */ /g'))" ;;
        node-cache)
            # NodeLocal DNSCache as its addon runs it (k8s.io/dns cluster/addons nodelocaldns:
            # errors, cache with success/denial sizes 9984 and TTL caps 30/5 s, reload, loop, bind,
            # forward, prometheus, health), here for the zone "." and forwarding over UDP to the
            # same upstream as every other server (the addon forwards the cluster zone with
            # force_tcp to kube-dns; over UDP the comparison with the others is like for like).
            # No interface, no iptables: -setupinterface=false -setupiptables=false -skipteardown.
            local base=$CONFIGS/Corefile.node-cache-base-cache$cache conf=$WORK/Corefile.node-cache
            {
                echo ".:$FRONT_PORT {"
                echo "    errors"
                if [ "$cache" != 0 ]; then
                    echo "    cache {"
                    echo "       success 9984 30"
                    echo "       denial 9984 5"
                    echo "    }"
                fi
                echo "    reload"
                echo "    loop"
                echo "    bind __PILLAR__LOCAL__DNS__"
                echo "    forward . 127.0.0.1:$UP_PORT"
                echo "    prometheus 127.0.0.1:$PROM_PORT"
                echo "    health 127.0.0.1:$GO_HEALTH_PORT"
                echo "}"
            } > "$base"
            [ -x "$PEERS/bin/node-cache" ] || die "missing $PEERS/bin/node-cache (integration/peers/build.sh)"
            local args=(-localip 127.0.0.1 -basecorefile "$base" -corefile "$conf" -conf "$conf"
                -setupinterface=false -setupiptables=false -skipteardown -health-port "$GO_HEALTH_PORT"
                -metrics-listen-address "127.0.0.1:$NC_METRICS_PORT")
            # KUBE_DNS_SERVICE_HOST: node-cache reads the cluster DNS IP of -upstreamsvc from it, as in a pod.
            start "front-$kind-$cache" "${pin[@]}" env GOMAXPROCS=1 KUBE_DNS_SERVICE_HOST=127.0.0.1 \
                "$PEERS/bin/node-cache" "${args[@]}"
            local shown="${args[*]}"
            FRONT_COND="CPU $cpus, GOMAXPROCS=1; node-cache ${shown//$CONFIGS\//} ($(tr -s ' \n' ' ' < "$base" | sed 's/  */ /g'))" ;;
        *) die "unknown server $kind" ;;
    esac
    FRONT_PID=$LAST_PID
    wait_dns "$FRONT_PORT" h0.bench.test A 300 || die "$kind did not start: $(tail -5 "$WORK"/front-"$kind"*.log)"
}

# go_cache_ratio -> cache hits/(hits+misses) from the prometheus plugin of CoreDNS / node-cache
# (coredns_cache_hits_total, coredns_cache_misses_total summed over their labels), or nothing.
go_cache_ratio() {
    curl -fsS --max-time 2 "http://127.0.0.1:$PROM_PORT/metrics" 2>/dev/null | awk '
        /^coredns_cache_hits_total/ { h += $NF } /^coredns_cache_misses_total/ { m += $NF }
        END { if (h + m > 0) printf "%.4f", h / (h + m) }'
}

# start_authority NAME PORT CONF: Debian dnsmasq serving CONF's records (TTL 30, as kubedns) on
# PORT, pinned to SERVER_CPU -> LAST_PID.
start_authority() {
    start "$1" taskset -c "$SERVER_CPU" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
        --user=root --bind-interfaces --listen-address=127.0.0.1 --port="$2" --no-resolv --no-hosts \
        --local-ttl=30 --conf-file="$3" --log-facility="$WORK/$1-q.log"
}

# start_kubedns_on OBJECTS: the API emulator (client core) seeded with OBJECTS and kubedns on
# FRONT_PORT (server core), ready and answering PROBE -> EMU_PID, KD_PID.
start_kubedns_on() {
    local objects=$1 probe=$2
    start emulator taskset -c "$CLIENT_CPU" "$REL/kube-apiserver-emulator" --bind "127.0.0.1:$API_PORT" \
        --manifests "$objects" --no-mirror --history-limit 50000
    EMU_PID=$LAST_PID
    wait_http "http://127.0.0.1:$API_PORT/version" 600 || die "emulator did not start: $(tail -5 "$WORK/emulator.log")"
    start kubedns taskset -c "$SERVER_CPU" "$REL/kubedns" --domain=cluster.local. --dns-port="$FRONT_PORT" \
        --dns-bind-address=127.0.0.1 --healthz-port="$HZ_PORT" --kube-master-url="http://127.0.0.1:$API_PORT" --v=0
    KD_PID=$LAST_PID
    KD_COND="CPU $SERVER_CPU; kubedns --domain=cluster.local. --v=0, API emulator on CPU $CLIENT_CPU"
    wait_http "http://127.0.0.1:$HZ_PORT/readiness" 1200 || die "kubedns not ready: $(tail -20 "$WORK/kubedns.log")"
    wait_dns "$FRONT_PORT" "$probe" A || die "kubedns does not answer"
}

# ---- measurements ----------------------------------------------------------------------------
# dnsperf_stat FILE KEY -> first number after "KEY:"
dnsperf_stat() { sed -n "s/^ *$2: *\([0-9.]*\).*/\1/p" "$1" | head -1; }
# dnsperf_rcode FILE RCODE -> count (0 when absent)
dnsperf_rcode() { local n; n=$(sed -n "s/.*Response codes:.*$2 \([0-9]*\).*/\1/p" "$1" | head -1); echo "${n:-0}"; }

# saturate SCENARIO SERVER PID PORT QUERYFILE DNSPERF-ARGS...: QPS, latency, CPU per query.
saturate() {
    local sc=$1 srv=$2 pid=$3 port=$4 q=$5; shift 5
    local out=$WORK/$sc-${srv// /_}.dnsperf t0 t1 s0 s1
    t0=$(ticks "$pid"); s0=$(cpustat)
    timeout $((DUR + 60)) taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$q" -l "$DUR" "$@" > "$out" 2>&1 \
        || die "dnsperf failed: $(tail -5 "$out")"
    s1=$(cpustat)
    sleep 0.5  # let a forking server reap the children of the connections dnsperf just closed
    t1=$(ticks "$pid")
    record_run "$sc" "$srv" "$out" "$((t1 - t0))"
    row "$sc" "$srv" machine_idle_pct "$(idle_pct "$s0" "$s1")" '%'
}

# fixed_rate SCENARIO SERVER PID PORT QUERYFILE QPS SUFFIX [DNSPERF-ARGS...]: CPU per query at a
# fixed rate below saturation (dnsperf -Q); rows METRIC_SUFFIX (qps, cpu_us_per_query, raw
# cpu_ticks and queries for exact ratios, machine idle).
fixed_rate() {
    local sc=$1 srv=$2 pid=$3 port=$4 q=$5 rate=$6 sfx=$7; shift 7
    local out=$WORK/$sc-${srv// /_}.$sfx.dnsperf t0 t1 s0 s1 answered rt lost
    t0=$(ticks "$pid"); s0=$(cpustat)
    timeout $((DUR + 60)) taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$q" -l "$DUR" -Q "$rate" \
        -c 10 -q 200 "$@" > "$out" 2>&1 || die "dnsperf -Q failed: $(tail -5 "$out")"
    s1=$(cpustat)
    sleep 0.5
    t1=$(ticks "$pid")
    answered=$(dnsperf_stat "$out" "Queries completed")
    lost=$(dnsperf_stat "$out" "Queries lost")
    rt=$(dnsperf_stat "$out" "Run time (s)")
    { [ -n "$answered" ] && [ "$answered" -gt 0 ]; } || die "no completed queries in $out: $(tail -5 "$out")"
    row "$sc" "$srv" "qps_$sfx" "$(dnsperf_stat "$out" "Queries per second")" qps
    row "$sc" "$srv" "cpu_us_per_query_$sfx" "$(awk -v t="$((t1 - t0))" -v h="$CLK_TCK" -v n="$answered" 'BEGIN{printf "%.3f", t/h*1e6/n}')" us
    row "$sc" "$srv" "server_cpu_pct_$sfx" "$(awk -v t="$((t1 - t0))" -v h="$CLK_TCK" -v r="$rt" 'BEGIN{printf "%.1f", t/h/r*100}')" '%'
    row "$sc" "$srv" "cpu_ticks_$sfx" "$((t1 - t0))" ticks
    row "$sc" "$srv" "queries_$sfx" "$answered" count
    row "$sc" "$srv" "lost_$sfx" "${lost:-0}" count
    row "$sc" "$srv" "machine_idle_pct_$sfx" "$(idle_pct "$s0" "$s1")" '%'
    log "  $sc/$srv at $rate qps: $((t1 - t0)) CPU ticks for $answered queries"
}

# record_run SCENARIO SERVER DNSPERF-OUTPUT CPU-TICKS
record_run() {
    local sc=$1 srv=$2 out=$3 dt=$4
    local answered qps avg rt lost
    answered=$(dnsperf_stat "$out" "Queries completed")
    lost=$(dnsperf_stat "$out" "Queries lost")
    qps=$(dnsperf_stat "$out" "Queries per second")
    avg=$(dnsperf_stat "$out" "Average Latency (s)")
    rt=$(dnsperf_stat "$out" "Run time (s)")
    { [ -n "$answered" ] && [ "$answered" -gt 0 ]; } || die "no completed queries in $out: $(tail -5 "$out")"
    row "$sc" "$srv" qps "$qps" qps
    row "$sc" "$srv" avg_latency_ms "$(awk -v a="$avg" 'BEGIN{printf "%.3f", a*1000}')" ms
    row "$sc" "$srv" cpu_us_per_query "$(awk -v t="$dt" -v h="$CLK_TCK" -v n="$answered" 'BEGIN{printf "%.3f", t/h*1e6/n}')" us
    row "$sc" "$srv" server_cpu_pct "$(awk -v t="$dt" -v h="$CLK_TCK" -v r="$rt" 'BEGIN{printf "%.1f", t/h/r*100}')" '%'
    # raw totals: report.py computes every ratio from these, never from the rounded figures above
    row "$sc" "$srv" cpu_ticks "$dt" ticks
    row "$sc" "$srv" run_time_s "$rt" s
    row "$sc" "$srv" queries "$answered" count
    row "$sc" "$srv" lost "${lost:-0}" count
    row "$sc" "$srv" refused "$(dnsperf_rcode "$out" REFUSED)" count
    row "$sc" "$srv" servfail "$(dnsperf_rcode "$out" SERVFAIL)" count
    log "  $sc/$srv: $qps qps, avg latency $avg s, $dt CPU ticks for $answered queries"
}

# latency SCENARIO SERVER PORT QUERYFILE [QPS] [SECS]: p50/p99/p99.9 at a fixed rate (dnsperf -v).
latency() {
    local sc=$1 srv=$2 port=$3 q=$4 rate=${5:-$LAT_QPS} secs=${6:-$LAT_DUR}
    local out=$WORK/$sc-${srv// /_}.latency
    timeout $((secs + 60)) taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$q" -l "$secs" -Q "$rate" \
        -c 10 -q 100 -v > "$out" 2>&1 || die "dnsperf -v failed: $(tail -5 "$out")"
    record_percentiles "$sc" "$srv" "$out"
}

record_percentiles() {
    local sc=$1 srv=$2 out=$3 p
    # "> NOERROR name type 0.000141" -> seconds, sorted
    awk '/^> / { print $NF }' "$out" | sort -g > "$out.sorted"
    local n
    n=$(wc -l < "$out.sorted")
    [ "$n" -gt 0 ] || die "no per-query latencies in $out"
    for p in 50 99 99.9; do
        local rank v
        rank=$(awk -v n="$n" -v p="$p" 'BEGIN{r = int(n * p / 100 + 0.999999); if (r < 1) r = 1; print r}')
        v=$(sed -n "${rank}p" "$out.sorted")
        row "$sc" "$srv" "p${p}_ms" "$(awk -v v="$v" 'BEGIN{printf "%.3f", v*1000}')" ms
        row "$sc" "$srv" "p${p}_s" "$v" s  # exact, as dnsperf printed it (for the targets)
    done
    row "$sc" "$srv" latency_samples "$n" count
    rm -f "$out.sorted"
}

# reply_cache_note SCENARIO SERVER QUERYFILE [CONDITIONS]: whether kubedns's reply cache was in
# play for a query file dnsperf cycles through in order: each UDP loop keeps an LRU of
# REPLY_CACHE_CAPACITY replies (kubedns/src/dns/reply_cache.rs), so a file of more distinct
# queries than that misses on every query (an LRU scanned cyclically), fewer hit after the first pass.
reply_cache_note() {
    local sc=$1 srv=$2 q=$3 base=${4:-$KD_COND} cap n
    cap=$(sed -n 's/^pub const REPLY_CACHE_CAPACITY: usize = \([0-9_]*\);.*/\1/p' "$REPO/kubedns/src/dns/reply_cache.rs" | tr -d _)
    n=$(sort -u "$q" | wc -l)
    row "$sc" "$srv" distinct_queries "$n" count
    if [ -z "$cap" ]; then
        cond "$sc" "$srv" "$base; reply cache: unknown (REPLY_CACHE_CAPACITY not found)"
    elif [ "$n" -le "$cap" ]; then
        cond "$sc" "$srv" "$base; reply cache in play: $n distinct queries repeat within its $cap entries per UDP loop"
    else
        cond "$sc" "$srv" "$base; reply cache not in play: $n distinct queries cycle through $cap entries per UDP loop (every lookup misses)"
    fi
}

# ---- scenarios -------------------------------------------------------------------------------
gen() { python3 "$BENCH_DIR/lib/gen.py" "$@"; }

# Caching forwarders compared in cache-hit and miss (CoreDNS and node-cache: issue 16).
FORWARDERS=(dnsmasq-rs dnsmasq unbound coredns node-cache)

scenario_cache_hit() {
    log "scenario cache-hit: ${FORWARDERS[*]}, cache 10000, 1000 names warm"
    gen hosts --out "$WORK" --n 1000
    start_upstream "$WORK/hosts-upstream.conf"
    local srv q=$WORK/hosts-queries.txt
    for srv in "${FORWARDERS[@]}"; do
        start_front "$srv" 10000
        cond cache-hit "$srv" "$FRONT_COND"
        taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$FRONT_PORT" -d "$q" -n 2 -c 1 -q 10 \
            > "$WORK/warm-$srv.log" 2>&1 || die "warm-up failed"
        saturate cache-hit "$srv" "$FRONT_PID" "$FRONT_PORT" "$q" "${SAT_ARGS[@]}"
        fixed_rate cache-hit "$srv" "$FRONT_PID" "$FRONT_PORT" "$q" "$FIXED_QPS" fixed
        latency cache-hit "$srv" "$FRONT_PORT" "$q"
        local h m r
        case "$srv" in
            dnsmasq-rs|dnsmasq)
                h=$(chaos "$FRONT_PORT" hits.bind); m=$(chaos "$FRONT_PORT" misses.bind)
                row cache-hit "$srv" hit_ratio "$(awk -v h="$h" -v m="$m" 'BEGIN{printf "%.4f", h/(h+m)}')" ratio ;;
            coredns|node-cache)
                r=$(go_cache_ratio)
                [ -z "$r" ] || row cache-hit "$srv" hit_ratio "$r" ratio ;;
        esac
        stop "$FRONT_PID"
    done
    stop "$UP_PID"
}

scenario_miss() {
    log "scenario miss: forward path, caching disabled (upstream on the same core)"
    gen hosts --out "$WORK" --n 1000
    start_upstream "$WORK/hosts-upstream.conf"
    local srv label
    for srv in "${FORWARDERS[@]}"; do
        label=$srv
        [ "$srv" = unbound ] && label="unbound (cache-max-ttl 0)"
        [ "$srv" = node-cache ] && label="node-cache (no cache plugin)"
        start_front "$srv" 0
        cond miss "$label" "$FRONT_COND"
        local u0 u1
        u0=$(chaos "$UP_PORT" hits.bind)
        saturate miss "$label" "$FRONT_PID" "$FRONT_PORT" "$WORK/hosts-queries.txt" "${MISS_ARGS[@]}"
        u1=$(chaos "$UP_PORT" hits.bind)
        local answered
        answered=$(dnsperf_stat "$WORK/miss-${label// /_}.dnsperf" "Queries completed")
        row miss "$label" upstream_per_query "$(awk -v a="$u0" -v b="$u1" -v n="$answered" 'BEGIN{printf "%.3f", (b-a)/n}')" ratio
        latency miss "$label" "$FRONT_PORT" "$WORK/hosts-queries.txt" 10000
        stop "$FRONT_PID"
    done
    stop "$UP_PID"
}

# two-workers: dnsmasq-rs --workers=1 vs --workers=2 at a fixed WORKERS_QPS (below either's
# saturation), server allowed on both cores, dnsperf pinned to CLIENT_CPU: CPU per query shows
# what a second worker costs (cross-worker contention, wakeups) when it is not needed for speed.
# The throughput comparison is scenario both-cores.
scenario_two_workers() {
    log "scenario two-workers: dnsmasq-rs --workers=1 vs 2 at $WORKERS_QPS qps (cache hits)"
    gen hosts --out "$WORK" --n 1000
    start_upstream "$WORK/hosts-upstream.conf"
    local w label q=$WORK/hosts-queries.txt
    for w in 1 2; do
        label="dnsmasq-rs ($w worker$([ "$w" = 1 ] || echo s))"
        start_front dnsmasq-rs 10000 "0-1" "$w"
        cond two-workers "$label" "$FRONT_COND; dnsperf on CPU $CLIENT_CPU at -Q $WORKERS_QPS -c 10 -q 200"
        taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$FRONT_PORT" -d "$q" -n 2 -c 1 -q 10 \
            > "$WORK/warm-two-$w.log" 2>&1 || die "warm-up failed"
        fixed_rate two-workers "$label" "$FRONT_PID" "$FRONT_PORT" "$q" "$WORKERS_QPS" fixed
        stop "$FRONT_PID"
    done
    stop "$UP_PID"
}

# rfc5452: is every upstream query sent from a fresh random source port with a random ID?
# A recording upstream (lib/recorder.py, Python, answers every query) behind each forwarder with
# caching off; RFC5452_QUERIES client queries at RFC5452_QPS; counts of distinct source ports
# and IDs over the upstream queries it saw (RFC 5452 §§ 4.5, 9.2: both unpredictable).
scenario_rfc5452() {
    log "scenario rfc5452: source ports and IDs of $RFC5452_QUERIES upstream queries"
    gen hosts --out "$WORK" --n 1000
    local srv rec=$WORK/rfc5452
    mkdir -p "$rec"
    for srv in dnsmasq-rs dnsmasq; do
        start "recorder-$srv" taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/lib/recorder.py" serve --port "$UP_PORT" \
            --log "$rec/$srv.txt" --max-secs $((RFC5452_QUERIES / RFC5452_QPS + 120))
        UP_PID=$LAST_PID
        wait_dns "$UP_PORT" h0.bench.test A 100 || die "recorder did not start: $(tail -5 "$WORK/recorder-$srv.log")"
        start_front "$srv" 0
        cond rfc5452 "$srv" "$FRONT_COND; upstream: lib/recorder.py; dnsperf -Q $RFC5452_QPS, $RFC5452_QUERIES queries"
        : > "$rec/$srv.txt"  # the start-up probes above are not counted (the recorder appends)
        timeout 300 taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$FRONT_PORT" -d "$WORK/hosts-queries.txt" \
            -n $(((RFC5452_QUERIES + 999) / 1000)) -Q "$RFC5452_QPS" -c 1 -q 50 > "$WORK/rfc5452-$srv.dnsperf" 2>&1 \
            || die "dnsperf failed: $(tail -5 "$WORK/rfc5452-$srv.dnsperf")"
        stop "$FRONT_PID"
        stop "$UP_PID"
        python3 "$BENCH_DIR/lib/recorder.py" summary --log "$rec/$srv.txt" --limit "$RFC5452_QUERIES" \
            --port-range "$(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range)" | while read -r metric value; do
            row rfc5452 "$srv" "$metric" "$value" count
        done
    done
}

# diff_answers PORT_A PORT_B FILE -> number of queries whose rcode or answer set differ
diff_answers() {
    local pa=$1 pb=$2 file=$3 n=0 name type a b
    while read -r name type; do
        a=$(dig_canon "$pa" "$name" "$type"); b=$(dig_canon "$pb" "$name" "$type")
        if [ "$a" != "$b" ]; then
            n=$((n + 1))
            printf '%s %s\n  kubedns: %s\n  dnsmasq: %s\n' "$name" "$type" "$a" "$b" >> "$WORK/auth-diff.txt"
        fi
    done < "$file"
    echo "$n"
}
dig_canon() { # rcode + sorted "type rdata" of the answer section (TTL, order and flags ignored)
    local out
    out=$(dig @127.0.0.1 -p "$1" +time=2 +tries=1 +noall +comments +answer "$2" "$3" 2>&1) || true
    printf '%s |' "$(grep -o 'status: [A-Z]*' <<< "$out" | head -1)"
    grep -v '^;' <<< "$out" | awk 'NF >= 5 { $2 = ""; print }' | sort | tr '\n' '|'
}

scenario_auth() {
    log "scenario auth: kubedns vs dnsmasq on the same records, realistic mix with the ndots:5 storm"
    gen auth --out "$WORK" >&2
    local q=$WORK/auth-queries.txt probe
    probe=$(grep -m1 ' A$' "$q" | cut -d' ' -f1)
    # kubedns fed by the API emulator (emulator on the client core).
    start_kubedns_on "$WORK/auth-objects.json" "$probe"
    local kd=$KD_PID emu=$EMU_PID
    # dnsmasq with the same records on another port, for the answer diff.
    local dm_port=$((FRONT_PORT + 1))
    start_authority auth-dnsmasq "$dm_port" "$WORK/auth-dnsmasq.conf"
    local dm=$LAST_PID
    wait_dns "$dm_port" "$probe" A || die "dnsmasq (auth) did not start"
    local mism
    mism=$(diff_answers "$FRONT_PORT" "$dm_port" "$WORK/auth-check.txt")
    row auth kubedns answer_mismatches_vs_dnsmasq "$mism" count
    [ "$mism" = 0 ] || log "  auth: $mism of $(wc -l < "$WORK/auth-check.txt") sampled answers differ (see $WORK/auth-diff.txt)"
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$FRONT_PORT" -d "$q" -n 1 -c 1 -q 20 > "$WORK/warm-kubedns.log" 2>&1 || true
    reply_cache_note auth kubedns "$q"
    reply_cache_note auth "kubedns (mix without SRV)" "$WORK/auth-queries-nosrv.txt"
    cond auth dnsmasq "CPU $SERVER_CPU; Debian dnsmasq, same records from a conf file (host-record, srv-host, local=/cluster.local/, local-ttl=30)"
    cond auth "dnsmasq (no srv-host; mix without SRV)" "CPU $SERVER_CPU; Debian dnsmasq, the same records without its srv-host lines; the mix without SRV queries"
    saturate auth kubedns "$kd" "$FRONT_PORT" "$q" "${SAT_ARGS[@]}"
    latency auth kubedns "$FRONT_PORT" "$q"
    saturate auth "kubedns (mix without SRV)" "$kd" "$FRONT_PORT" "$WORK/auth-queries-nosrv.txt" "${SAT_ARGS[@]}"
    row auth kubedns rss_mib "$(awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$kd/status")" MiB
    stop "$kd"; stop "$emu"
    saturate auth dnsmasq "$dm" "$dm_port" "$q" "${SAT_ARGS[@]}"
    latency auth dnsmasq "$dm_port" "$q"
    row auth dnsmasq rss_mib "$(awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$dm/status")" MiB
    stop "$dm"
    # dnsmasq walks its srv-host list on every query; without SRV records and SRV queries the
    # pair below compares kubedns with dnsmasq's host-record path alone.
    start_authority auth-dnsmasq-nosrv "$dm_port" "$WORK/auth-dnsmasq-nosrv.conf"
    dm=$LAST_PID
    wait_dns "$dm_port" "$probe" A || die "dnsmasq (auth, no SRV) did not start"
    saturate auth "dnsmasq (no srv-host; mix without SRV)" "$dm" "$dm_port" "$WORK/auth-queries-nosrv.txt" "${SAT_ARGS[@]}"
    stop "$dm"
}

scenario_both_cores() {
    log "scenario both-cores: nothing pinned, dnsperf with 2 threads shares the 2 cores"
    gen hosts --out "$WORK" --n 1000
    start_upstream "$WORK/hosts-upstream.conf"
    local cfg kind workers label
    for cfg in dnsmasq:1 dnsmasq-rs:1 dnsmasq-rs:2; do
        kind=${cfg%:*}; workers=${cfg#*:}
        label=$kind
        [ "$kind" = dnsmasq-rs ] && label="dnsmasq-rs ($workers workers)"
        [ "$label" = "dnsmasq-rs (1 workers)" ] && label="dnsmasq-rs (1 worker)"
        start_front "$kind" 10000 "0-1" "$workers"
        dnsperf -s 127.0.0.1 -p "$FRONT_PORT" -d "$WORK/hosts-queries.txt" -n 2 -c 1 -q 10 > /dev/null 2>&1 || die "warm-up failed"
        cond both-cores "$label" "$FRONT_COND; dnsperf unpinned -T 2 -c 20 -q 400"
        local out=$WORK/both-cores-${label// /_}.dnsperf t0 t1 g0 g1 gp s0 s1
        t0=$(ticks "$FRONT_PID")
        # dnsperf itself is the background job (no timeout wrapper) so its own CPU can be read.
        dnsperf -s 127.0.0.1 -p "$FRONT_PORT" -d "$WORK/hosts-queries.txt" -l "$DUR" \
            -T 2 -c 20 -q 400 > "$out" 2>&1 &
        gp=$!
        PIDS+=("$gp")
        sleep 0.3
        g0=$(ticks "$gp" 2>/dev/null || echo 0); s0=$(cpustat)
        sleep "$((DUR - 1))"
        g1=$(ticks "$gp" 2>/dev/null || echo "$g0"); s1=$(cpustat)
        local i
        for i in $(seq 600); do kill -0 "$gp" 2>/dev/null || break; sleep 0.1; done  # bounded: 60 s
        kill "$gp" 2>/dev/null || true
        wait "$gp" || die "dnsperf failed: $(tail -5 "$out")"
        forget "$gp"
        t1=$(ticks "$FRONT_PID")
        record_run both-cores "$label" "$out" "$((t1 - t0))"
        # idle share of the whole machine while dnsperf ran: the evidence for "generator-bound"
        row both-cores "$label" machine_idle_pct "$(idle_pct "$s0" "$s1")" '%'
        row both-cores "$label" generator_cpu_pct "$(awk -v t="$((g1 - g0))" -v h="$CLK_TCK" -v s="$((DUR - 1))" 'BEGIN{printf "%.1f", t/h/s*100}')" '%'
        stop "$FRONT_PID"
    done
    stop "$UP_PID"
}

scenario_zipf() {
    local nq=$((ZIPF_SECS * ZIPF_QPS * 11 / 10))
    log "scenario zipf: $ZIPF_NAMES names, TTL 5-300 s, cache-size=1000, ${ZIPF_SECS}s at $ZIPF_QPS qps"
    gen zipf --out "$WORK" --names "$ZIPF_NAMES" --queries "$nq" >&2
    # upstream with 100k host-records (TTL per record)
    start upstream-zipf taskset -c "$SERVER_CPU" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
        --user=root --bind-interfaces --listen-address=127.0.0.1 --port="$UP_PORT" --no-resolv --no-hosts \
        --local=/test/ --cache-size=100000 --conf-file="$WORK/zipf-upstream.conf" --log-facility="$WORK/upstream-zipf-dnsmasq.log"
    UP_PID=$LAST_PID
    wait_dns "$UP_PORT" z0.zipf.test A 300 || die "zipf upstream did not start"
    local srv
    for srv in dnsmasq-rs dnsmasq; do
        # as the legacy manifest: --cache-size=1000 --no-negcache
        start_front "$srv" 1000
        cond zipf "$srv" "$FRONT_COND"
        local u0 u1 h m out=$WORK/zipf-$srv.latency
        u0=$(chaos "$UP_PORT" hits.bind)
        h=$(chaos "$FRONT_PORT" hits.bind); m=$(chaos "$FRONT_PORT" misses.bind)
        timeout $((ZIPF_SECS + 60)) taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$FRONT_PORT" \
            -d "$WORK/zipf-queries.txt" -l "$ZIPF_SECS" -Q "$ZIPF_QPS" -c 10 -q 100 -v > "$out" 2>&1 \
            || die "dnsperf failed: $(tail -5 "$out")"
        local h1 m1
        h1=$(chaos "$FRONT_PORT" hits.bind); m1=$(chaos "$FRONT_PORT" misses.bind)
        u1=$(chaos "$UP_PORT" hits.bind)
        # (the few CHAOS queries of this measurement are counted too: negligible)
        local hits=$((h1 - h)) misses=$((m1 - m))
        row zipf "$srv" hit_ratio "$(awk -v h="$hits" -v m="$misses" 'BEGIN{printf "%.4f", h/(h+m)}')" ratio
        row zipf "$srv" hits "$hits" count
        row zipf "$srv" misses "$misses" count
        row zipf "$srv" upstream_queries "$((u1 - u0))" count
        local nq
        nq=$(dnsperf_stat "$out" "Queries completed")
        # 1 - upstream queries / client queries: counts coalesced in-flight duplicates as hits
        row zipf "$srv" upstream_hit_ratio "$(awk -v u="$((u1 - u0))" -v n="$nq" 'BEGIN{printf "%.4f", 1-u/n}')" ratio
        row zipf "$srv" queries "$nq" count
        row zipf "$srv" lost "$(dnsperf_stat "$out" "Queries lost")" count
        row zipf "$srv" servfail "$(dnsperf_rcode "$out" SERVFAIL)" count
        record_percentiles zipf "$srv" "$out"
        log "  zipf/$srv: hits $hits misses $misses upstream $((u1 - u0))"
        stop "$FRONT_PID"
    done
    stop "$UP_PID"
}

scenario_scale() {
    log "scenario scale: bench_scale $SCALE_ARGS"
    # shellcheck disable=SC2086
    timeout 900 taskset -c "$CLIENT_CPU" "$REL/bench_scale" --kubedns "$REL/kubedns" --server-cpu "$SERVER_CPU" \
        --client-cpu "$CLIENT_CPU" --work "$WORK/scale" --csv "$CSV_RAW" $SCALE_ARGS >&2 \
        || die "bench_scale failed (logs in $WORK/scale)"
    if [ -f "$WORK/scale/scale-queries.txt" ]; then
        reply_cache_note scale kubedns "$WORK/scale/scale-queries.txt" "CPU $SERVER_CPU; bench_scale $SCALE_ARGS"
    fi
}

scenario_large() {
    log "scenario large: headless Services with 1000 and 5000 endpoints, kubedns vs dnsmasq"
    gen large --out "$WORK" --sizes 1000,5000 >&2
    local q1=$WORK/large-queries-1000.txt q5=$WORK/large-queries-5000.txt probe
    probe=$(cut -d' ' -f1 "$q1")
    start_kubedns_on "$WORK/large-objects.json" "$probe"
    local dm_port=$((FRONT_PORT + 1))
    start_authority large-dnsmasq "$dm_port" "$WORK/large-dnsmasq.conf"
    local dm=$LAST_PID
    wait_dns "$dm_port" "$probe" A || die "dnsmasq (large) did not start"
    cond large dnsmasq "CPU $SERVER_CPU; Debian dnsmasq, the same addresses as host-records (local-ttl=30)"
    cond large "dnsmasq (TCP)" "CPU $SERVER_CPU; the same dnsmasq over TCP (-m tcp -c 10 -q 20; forked per-connection children counted)"
    cond large "dnsmasq (5000 endpoints)" "CPU $SERVER_CPU; the same dnsmasq, 5000-address Service over UDP with EDNS"
    reply_cache_note large kubedns "$q1"
    reply_cache_note large "kubedns (5000 endpoints)" "$q5"
    cond large "kubedns (TCP)" "$KD_COND; reply cache in play: one query repeated over TCP, answered from the shared TCP reply cache"
    row large kubedns answer_mismatches_vs_dnsmasq "$(diff_answers "$FRONT_PORT" "$dm_port" "$WORK/large-check.txt")" count
    # UDP with EDNS (dnsperf -e: 4096 advertised; each server answers what fits, with TC) and
    # TCP (the whole set; -q 20 outstanding on 10 connections).
    local srv port pid
    for srv in kubedns dnsmasq; do
        if [ "$srv" = kubedns ]; then port=$FRONT_PORT; pid=$KD_PID; else port=$dm_port; pid=$dm; fi
        saturate large "$srv" "$pid" "$port" "$q1" -e "${SAT_ARGS[@]}"
        saturate large "$srv (TCP)" "$pid" "$port" "$q1" -m tcp -c 10 -q 20
        saturate large "$srv (5000 endpoints)" "$pid" "$port" "$q5" -e "${SAT_ARGS[@]}"
    done
    stop "$KD_PID"; stop "$EMU_PID"; stop "$dm"
}

# ---- scenarios against the real control plane (issue 16) ------------------------------------
# Peers of integration/peers/build.sh; the control plane of integration/k8s/build.sh (found by
# the bench_k8s binary itself).
PEERS_BIN=${PEERS_BIN:-$PEERS/bin}
COREFILE_TEMPLATE=$REPO/integration/peers/Corefile.kube-dns-migration
K8S_READY_TRIES=${K8S_READY_TRIES:-12000}  # x 0.05 s: control-plane start + load (10 min)

# start_k8s_server KIND LABEL KUBECONFIG: a server of the auth-k8s scenario on FRONT_PORT,
# pinned to SERVER_CPU, ready -> LAST_PID. KIND: kubedns | kubedns-nocache | coredns-migration
# | coredns-plain | coredns-none | kube-dns.
start_k8s_server() {
    local kind=$1 kubeconfig=$3
    case "$kind" in
        kubedns|kubedns-nocache)
            local extra=()
            [ "$kind" = kubedns ] || extra=(--reply-cache-entries=0)
            start "k8s-$kind" taskset -c "$SERVER_CPU" "$REL/kubedns" --domain=cluster.local. \
                --dns-port="$FRONT_PORT" --dns-bind-address=127.0.0.1 --healthz-port="$HZ_PORT" \
                --kubecfg-file="$kubeconfig" --v=0 "${extra[@]}"
            wait_http "http://127.0.0.1:$HZ_PORT/readiness" 2400 || die "$kind not ready: $(tail -20 "$WORK/k8s-$kind.log")" ;;
        coredns-*)
            echo "nameserver 127.0.0.1" > "$WORK/k8s-resolv.conf"
            "$REL/bench_k8s" corefile --template "$COREFILE_TEMPLATE" --cache "${kind#coredns-}" \
                --dns-port "$FRONT_PORT" --ready-port "$HZ_PORT" --health-port "$((HZ_PORT + 2))" \
                --metrics-port "$((HZ_PORT + 3))" --kubeconfig "$kubeconfig" \
                --resolv-conf "$WORK/k8s-resolv.conf" > "$WORK/k8s-$kind.Corefile" || die "rendering the Corefile"
            start "k8s-$kind" taskset -c "$SERVER_CPU" "$PEERS_BIN/coredns" -conf "$WORK/k8s-$kind.Corefile"
            wait_http "http://127.0.0.1:$HZ_PORT/ready" 2400 || die "$kind not ready: $(tail -20 "$WORK/k8s-$kind.log")" ;;
        kube-dns)
            start "k8s-$kind" taskset -c "$SERVER_CPU" "$PEERS_BIN/kube-dns" --kubecfg-file="$kubeconfig" \
                --domain=cluster.local. --dns-bind-address=127.0.0.1 --dns-port="$FRONT_PORT" \
                --healthz-port="$HZ_PORT"
            wait_http "http://127.0.0.1:$HZ_PORT/readiness" 2400 || die "$kind not ready: $(tail -20 "$WORK/k8s-$kind.log")" ;;
        *) die "unknown server $kind" ;;
    esac
}

# diff_k8s PORT REF_PORT LABEL FILE -> differing answers (rcode + record set; SRV priority and
# weight ignored: CoreDNS writes priority 0, kube-dns 10), logged to $WORK/auth-k8s-diff.txt
diff_k8s() {
    local pa=$1 pb=$2 label=$3 file=$4 n=0 name type a b
    while read -r name type; do
        a=$(dig_canon "$pa" "$name" "$type" | sed -E 's/ SRV [0-9]+ [0-9]+ / SRV /g')
        b=$(dig_canon "$pb" "$name" "$type" | sed -E 's/ SRV [0-9]+ [0-9]+ / SRV /g')
        if [ "$a" != "$b" ]; then
            n=$((n + 1))
            printf '%s %s\n  %s: %s\n  dnsmasq: %s\n' "$name" "$type" "$label" "$a" "$b" >> "$WORK/auth-k8s-diff.txt"
        fi
    done < "$file"
    echo "$n"
}

scenario_auth_k8s() {
    log "scenario auth-k8s: kubedns, CoreDNS, legacy kube-dns (real control plane) and dnsmasq on the same records"
    [ -x "$PEERS_BIN/coredns" ] && [ -x "$PEERS_BIN/kube-dns" ] || die "peers missing in $PEERS_BIN (integration/peers/build.sh)"
    # shellcheck disable=SC2086
    gen k8s --out "$WORK" $K8S_GEN_ARGS >&2
    local mix=$WORK/k8s-mix.txt big=$WORK/k8s-big.txt env=$WORK/k8s-env probe
    probe=$(grep -m1 ' A$' "$mix" | cut -d' ' -f1)
    row auth-k8s "query sets" mix_distinct "$(awk '$1 == "mix_distinct" {print $2}' "$WORK/k8s-stats")" count
    row auth-k8s "query sets" big_distinct "$(awk '$1 == "big_distinct" {print $2}' "$WORK/k8s-stats")" count
    row auth-k8s "query sets" services "$(awk '$1 == "services" {print $2}' "$WORK/k8s-stats")" count
    # The control plane, loaded, then etcd + kube-apiserver pinned to the client core (idle
    # there while the servers answer from their caches).
    start k8s-up "$REL/bench_k8s" up --objects "$WORK/k8s-objects.json" --env-file "$env" --client-cpu "$CLIENT_CPU"
    local up=$LAST_PID i
    for i in $(seq "$K8S_READY_TRIES"); do
        [ -f "$env" ] && break
        kill -0 "$up" 2>/dev/null || die "bench_k8s up failed: $(tail -20 "$WORK/k8s-up.log")"
        sleep 0.05
    done
    [ -f "$env" ] || die "control plane not loaded in time: $(tail -5 "$WORK/k8s-up.log")"
    local kubeconfig
    kubeconfig=$(sed -n 's/^KUBECONFIG=//p' "$env")
    row auth-k8s "control plane" api_objects "$(sed -n 's/^OBJECTS=//p' "$env")" count
    row auth-k8s "control plane" load_s "$(sed -n 's/^LOAD_S=//p' "$env")" s
    row auth-k8s "control plane" load_objects_per_s "$(sed -n 's/^OBJECTS_PER_S=//p' "$env")" /s
    log "  control plane loaded: $(tr '\n' ' ' < "$env")"
    # dnsmasq with the same records: the reference of the answer diffs; --cache-size at least
    # the record count (it sizes the hash table holding host-records).
    local dm_port=$((FRONT_PORT + 1)) cs
    cs=$(cat "$WORK/k8s-dnsmasq-cache-size")
    start k8s-dnsmasq taskset -c "$SERVER_CPU" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
        --user=root --bind-interfaces --listen-address=127.0.0.1 --port="$dm_port" --no-resolv --no-hosts \
        --local-ttl=30 --cache-size="$cs" --conf-file="$WORK/k8s-dnsmasq.conf" --log-facility="$WORK/k8s-dnsmasq-q.log"
    local dm=$LAST_PID
    wait_dns "$dm_port" "$probe" A 600 || die "dnsmasq (auth-k8s) did not start"
    local kinds=(kubedns kubedns-nocache coredns-migration coredns-plain coredns-none kube-dns) kind label
    if ! "$REL/kubedns" --help 2>&1 | grep -q -- '--reply-cache-entries'; then
        log "  auth-k8s: this kubedns has no --reply-cache-entries: the reply-cache-off row is skipped (needs that flag)"
        kinds=(kubedns coredns-migration coredns-plain coredns-none kube-dns)
    fi
    for kind in "${kinds[@]}"; do
        case "$kind" in
            kubedns) label="kubedns (reply cache on)" ;;
            kubedns-nocache) label="kubedns (reply cache off)" ;;
            coredns-migration) label="CoreDNS (kubeadm 1.34 Corefile: cluster domain not cached)" ;;
            coredns-plain) label="CoreDNS (cache 30)" ;;
            coredns-none) label="CoreDNS (no cache)" ;;
            kube-dns) label="kube-dns (legacy; no reply cache)" ;;
        esac
        start_k8s_server "$kind" "$label" "$kubeconfig"
        local pid=$LAST_PID
        wait_dns "$FRONT_PORT" "$probe" A 300 || die "$kind does not answer"
        row auth-k8s "$label" answer_mismatches_vs_dnsmasq "$(diff_k8s "$FRONT_PORT" "$dm_port" "$label" "$WORK/k8s-check.txt")" count
        # One pass over the mix first, so caches start warm as in a running cluster.
        taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$FRONT_PORT" -d "$mix" -n 1 -c 1 -q 20 > "$WORK/warm-k8s-$kind.log" 2>&1 || true
        saturate auth-k8s "$label" "$pid" "$FRONT_PORT" "$mix" "${SAT_ARGS[@]}"
        saturate auth-k8s-big "$label" "$pid" "$FRONT_PORT" "$big" "${SAT_ARGS[@]}"
        if [ "$kind" = kubedns-nocache ] || [ "$kind" = kube-dns ] || [ "$kind" = coredns-none ]; then
            saturate auth-k8s "$label (mix without SRV)" "$pid" "$FRONT_PORT" "$WORK/k8s-mix-nosrv.txt" "${SAT_ARGS[@]}"
        fi
        row auth-k8s "$label" rss_mib "$(awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")" MiB
        stop "$pid"
    done
    local dlabel="dnsmasq (cache-size $cs; no reply cache)"
    saturate auth-k8s "$dlabel" "$dm" "$dm_port" "$mix" "${SAT_ARGS[@]}"
    saturate auth-k8s-big "$dlabel" "$dm" "$dm_port" "$big" "${SAT_ARGS[@]}"
    row auth-k8s "$dlabel" rss_mib "$(awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$dm/status")" MiB
    stop "$dm"
    # dnsmasq walks its srv-host list on every query (see scenario auth): the stricter pair
    # without SRV records and SRV queries.
    start k8s-dnsmasq-nosrv taskset -c "$SERVER_CPU" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
        --user=root --bind-interfaces --listen-address=127.0.0.1 --port="$dm_port" --no-resolv --no-hosts \
        --local-ttl=30 --cache-size="$cs" --conf-file="$WORK/k8s-dnsmasq-nosrv.conf" --log-facility="$WORK/k8s-dnsmasq-nosrv-q.log"
    dm=$LAST_PID
    wait_dns "$dm_port" "$probe" A 600 || die "dnsmasq (auth-k8s, no SRV) did not start"
    saturate auth-k8s "dnsmasq (no srv-host; mix without SRV)" "$dm" "$dm_port" "$WORK/k8s-mix-nosrv.txt" "${SAT_ARGS[@]}"
    stop "$dm"
    stop "$up"
    [ ! -s "$WORK/auth-k8s-diff.txt" ] || log "  auth-k8s: answer differences in $WORK/auth-k8s-diff.txt"
}

scenario_scale_k8s() {
    log "scenario scale-k8s: bench_k8s scale $SCALE_K8S_ARGS (real control plane)"
    # shellcheck disable=SC2086
    timeout 1500 "$REL/bench_k8s" scale --kubedns "$REL/kubedns" --coredns "$PEERS_BIN/coredns" \
        --kube-dns "$PEERS_BIN/kube-dns" --corefile "$COREFILE_TEMPLATE" --server-cpu "$SERVER_CPU" \
        --client-cpu "$CLIENT_CPU" --work "$WORK/scale-k8s" --csv "$CSV_RAW" $SCALE_K8S_ARGS >&2 \
        || die "bench_k8s scale failed (logs in $WORK/scale-k8s)"
}

# ---- main ------------------------------------------------------------------------------------
# meta: what was measured (key=value lines for report.py). The source state is taken before the
# build, so a tree edited during the run does not change what the report says about it.
write_meta() {
    local rev dirty
    rev=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -1)" ]; then dirty=1; else dirty=0; fi
    {
        echo "rev=$rev"
        echo "dirty=$dirty"
        echo "clk_tck=$CLK_TCK"
        echo "server_cpu=$SERVER_CPU"
        echo "client_cpu=$CLIENT_CPU"
        echo "fixed_qps=$FIXED_QPS"
        echo "lat_qps=$LAT_QPS"
        echo "workers_qps=$WORKERS_QPS"
        echo "peers=$(readlink -f "$PEERS" 2>/dev/null || echo "$PEERS")"
        if [ -x "$PEERS/bin/coredns" ]; then
            echo "coredns=$("$PEERS/bin/coredns" -version 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')"
        fi
        if [ -x "$PEERS/bin/node-cache" ]; then
            echo "node-cache=$("$PEERS/bin/node-cache" -help 2>&1 | grep -m1 -o 'CoreDNS v[^ ]*' | sed 's/^/embeds /')"
        fi
        if [ -f "$PEERS/versions.txt" ]; then
            sed -n 's/^\(node-cache\|kube-dns\) \(.*\)/module-\1=\2/p' "$PEERS/versions.txt"
        fi
    } > "$META"
}

write_meta
ensure_tools
build
log "work directory $WORK; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
for s in "${SCENARIOS[@]}"; do
    "scenario_${s//-/_}"
done
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)

mkdir -p "$RESULTS"
# Only a full run (every scenario, not --quick) becomes results/latest.* and the README block.
PUBLISH=0
[ "$QUICK" = 0 ] && [ "${SCENARIOS[*]}" = "${ALL_SCENARIOS[*]}" ] && PUBLISH=1
README_ARG=()
[ "$PUBLISH" = 0 ] || README_ARG=(--readme "$BENCH_DIR/README.md")
python3 "$BENCH_DIR/lib/report.py" --rows "$CSV_RAW" --out "$RESULTS/$STAMP" --stamp "$STAMP" \
    --quick "$QUICK" --load "$LOAD_BEFORE/$LOAD_AFTER" "${README_ARG[@]+"${README_ARG[@]}"}" \
    --meta "$META" --conditions "$COND" --configs "$CONFIGS" \
    --durations "saturation ${DUR}s, latency ${LAT_DUR}s at ${LAT_QPS} qps, zipf ${ZIPF_SECS}s at ${ZIPF_QPS} qps"
# (the chart covers scenarios 1-4 and scale; the .dat file has a header line)
if command -v gnuplot > /dev/null && [ "$(wc -l < "$RESULTS/$STAMP.dat")" -gt 1 ]; then
    gnuplot -e "datafile='$RESULTS/$STAMP.dat'; outfile='$RESULTS/$STAMP.png'" "$BENCH_DIR/lib/chart.gp" \
        || log "gnuplot failed; no chart"
fi
rm -f "$RESULTS/$STAMP.dat"
if [ "$PUBLISH" = 1 ]; then
    for ext in md csv png; do
        if [ -f "$RESULTS/$STAMP.$ext" ]; then cp "$RESULTS/$STAMP.$ext" "$RESULTS/latest.$ext"; fi
    done
fi
log "results: $RESULTS/$STAMP.md"
cat "$RESULTS/$STAMP.md"
