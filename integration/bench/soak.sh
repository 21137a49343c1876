#!/usr/bin/env bash
# kube-dns-rs soak (issue 8, "Soak"). Usage and method: integration/bench/README.md, "## Soak".
#
#   [SOAK_SECS=300] [PROFILE=debug|release] [QPS=2000] integration/bench/soak.sh
#
# Starts the sandbox (API emulator + kubedns + dnsmasq-rs + healthz) on 127.0.0.1 ephemeral
# ports, runs dnsperf at a fixed rate through dnsmasq-rs while a churn loop rewrites the
# Endpoints of a headless Service every 0.5 s and a fault loop cuts watches and makes the API
# answer 500 for 5 s every 60 s; a checker digs stable names every second and RSS is sampled
# every 10 s. Fails when a process died, a stable name was answered wrongly (or not at all),
# or the RSS of kubedns or dnsmasq-rs grew by more than 50 %. Every process this script starts
# is killed on exit (trap, by PID); every loop is bounded in count and time.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
PROFILE=${PROFILE:-debug}
BIN=$TARGET/$PROFILE
SOAK_SECS=${SOAK_SECS:-300}
QPS=${QPS:-2000}
FAULT_EVERY=${FAULT_EVERY:-60}   # first fault at 20 s, then every FAULT_EVERY s
RSS_EVERY=10
RSS_GROWTH_MAX_PCT=50

case "$SOAK_SECS" in ''|*[!0-9]*) echo "soak.sh: SOAK_SECS must be a number of seconds" >&2; exit 2 ;; esac
[ "$SOAK_SECS" -ge 20 ] || { echo "soak.sh: SOAK_SECS must be >= 20" >&2; exit 2; }
case "${1:-}" in -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

STAMP=$(date -u +%Y%m%d-%H%M%S)
WORK=$(mktemp -d "/tmp/kube-dns-soak.$STAMP.XXXX")

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for t in dig dnsperf curl pgrep; do command -v "$t" > /dev/null || die "$t is required"; done

# ---- process bookkeeping ---------------------------------------------------------------------
PIDS=()
cleanup() {
    local rc=$? p i
    trap - EXIT INT TERM
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do
        for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done   # bounded: 5 s
        kill -9 "$p" 2>/dev/null || true
    done
    log "work directory (logs, samples, dnsperf output): $WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- binaries --------------------------------------------------------------------------------
if [ ! -x "$BIN/sandbox" ] || [ ! -x "$BIN/kubedns" ] || [ ! -x "$BIN/dnsmasq-rs" ] || [ ! -x "$BIN/healthz" ]; then
    log "binaries missing in $BIN: cargo build --workspace --bins"
    prof=(); [ "$PROFILE" = release ] && prof=(--release)
    (cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo build --workspace --bins "${prof[@]+"${prof[@]}"}")
fi

# ---- stack -----------------------------------------------------------------------------------
mkdir -p "$WORK/logs"
"$BIN/sandbox" --no-build --ephemeral-ports --log-dir "$WORK/logs" > "$WORK/sandbox.out" 2>&1 &
SANDBOX=$!
PIDS+=("$SANDBOX")
log "sandbox pid $SANDBOX, waiting for it to print its ports"
API_PORT= DNS_PORT=
for _ in $(seq 600); do   # bounded: 60 s (includes nothing to build: --no-build)
    kill -0 "$SANDBOX" 2>/dev/null || { cat "$WORK/sandbox.out" >&2; die "sandbox exited"; }
    API_PORT=$(sed -nE 's|^ +API emulator +http://127\.0\.0\.1:([0-9]+).*|\1|p' "$WORK/sandbox.out" | head -1)
    DNS_PORT=$(sed -nE 's|^ +dnsmasq-rs +127\.0\.0\.1:([0-9]+).*|\1|p' "$WORK/sandbox.out" | head -1)
    [ -n "$API_PORT" ] && [ -n "$DNS_PORT" ] && break
    sleep 0.1
done
[ -n "$API_PORT" ] && [ -n "$DNS_PORT" ] || { cat "$WORK/sandbox.out" >&2; die "sandbox did not print its ports"; }
API=http://127.0.0.1:$API_PORT
ok=0
for _ in $(seq 100); do   # bounded: ~30 s
    if [ "$(dig @127.0.0.1 -p "$DNS_PORT" +time=1 +tries=1 +short kubernetes.default.svc.cluster.local A 2>/dev/null)" = 10.0.0.1 ]; then
        ok=1; break
    fi
    sleep 0.3
done
[ "$ok" = 1 ] || die "dnsmasq-rs on port $DNS_PORT never answered kubernetes.default with 10.0.0.1"
log "stack up: API $API, dnsmasq-rs 127.0.0.1:$DNS_PORT"

# child PIDs of the sandbox (the emulator runs inside the sandbox process)
child_pid() { pgrep -P "$SANDBOX" -f "^$BIN/$1( |$)" | head -1; }
KUBEDNS=$(child_pid kubedns); DNSMASQ=$(child_pid dnsmasq-rs); HEALTHZ=$(child_pid healthz)
[ -n "$KUBEDNS" ] && [ -n "$DNSMASQ" ] && [ -n "$HEALTHZ" ] || die "could not find the sandbox's children"
log "pids: sandbox $SANDBOX kubedns $KUBEDNS dnsmasq-rs $DNSMASQ healthz $HEALTHZ"

# ---- churn Service: headless, selector-less, Endpoints mirrored to EndpointSlices ------------
post() { curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' "$API$1" -d "$2"; }
PORTS='"ports":[{"name":"http","port":80,"protocol":"TCP"}]'
SET_A='[{"ip":"10.250.0.1","hostname":"h0"},{"ip":"10.250.0.2","hostname":"h1"},{"ip":"10.250.0.3","hostname":"h2"}]'
SET_B='[{"ip":"10.250.1.1","hostname":"h0"},{"ip":"10.250.1.2","hostname":"h1"},{"ip":"10.250.1.4","hostname":"h3"}]'
post /api/v1/namespaces/demo/services \
    '{"apiVersion":"v1","kind":"Service","metadata":{"name":"churn","namespace":"demo"},"spec":{"clusterIP":"None",'"$PORTS"'}}' \
    || die "creating Service demo/churn failed"
post /api/v1/namespaces/demo/endpoints \
    '{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"churn","namespace":"demo"},"subsets":[{"addresses":'"$SET_A"','"$PORTS"'}]}' \
    || die "creating Endpoints demo/churn failed"

# ---- query file: stable demo-cluster names + churned names -----------------------------------
Z=svc.cluster.local
cat > "$WORK/queries.txt" <<EOF
kubernetes.default.$Z A
web.demo.$Z A
_http._tcp.web.demo.$Z SRV
_https._tcp.web.demo.$Z SRV
dual.demo.$Z A
dual.demo.$Z AAAA
db.demo.$Z A
db-0.db.demo.$Z A
_postgres._tcp.db.demo.$Z SRV
10.1.96.10.in-addr.arpa PTR
churn.demo.$Z A
h0.churn.demo.$Z A
h1.churn.demo.$Z A
h2.churn.demo.$Z A
h3.churn.demo.$Z A
_http._tcp.churn.demo.$Z SRV
EOF

# ---- background loops (each bounded by END and an iteration cap) -----------------------------
START=$(date +%s)
END=$((START + SOAK_SECS))

churn_loop() {
    local i=0 set ok=0 fail=0
    while [ "$i" -lt $((SOAK_SECS * 2 + 10)) ] && [ "$(date +%s)" -lt "$END" ]; do
        if [ $((i % 2)) = 0 ]; then set=$SET_B; else set=$SET_A; fi
        if curl -sf -m 2 -o /dev/null -X PATCH -H 'Content-Type: application/merge-patch+json' \
            "$API/api/v1/namespaces/demo/endpoints/churn" -d '{"subsets":[{"addresses":'"$set"','"$PORTS"'}]}'; then
            ok=$((ok + 1))
        else
            fail=$((fail + 1))   # expected during the 500 outages
        fi
        echo "$ok $fail" > "$WORK/churn.count"
        i=$((i + 1))
        sleep 0.5
    done
}

fault_loop() {
    local n=0 next=$((START + 20))
    while [ "$n" -lt $((SOAK_SECS / FAULT_EVERY + 2)) ]; do
        while [ "$(date +%s)" -lt "$next" ] && [ "$(date +%s)" -lt "$END" ]; do sleep 0.5; done
        [ "$(date +%s)" -lt "$END" ] || break
        curl -sf -m 2 -o /dev/null -X POST "$API/_emulator/faults/close-watches" || echo "close-watches failed" >> "$WORK/faults.log"
        curl -sf -m 2 -o /dev/null -X POST -H 'Content-Type: application/json' \
            -d '{"mode":"error500","seconds":5}' "$API/_emulator/faults/outage" || echo "outage failed" >> "$WORK/faults.log"
        echo "$(date -u +%H:%M:%S) t=$(( $(date +%s) - START ))s close-watches + 500s for 5 s" >> "$WORK/faults.log"
        n=$((n + 1))
        next=$((next + FAULT_EVERY))
    done
}

check_loop() {
    local i=0 checks=0 wrong=0 name want got
    while [ "$i" -lt $((SOAK_SECS + 10)) ] && [ "$(date +%s)" -lt "$END" ]; do
        for pair in kubernetes.default=10.0.0.1 web.demo=10.96.1.10 dual.demo=10.96.1.11 db-0.db.demo=10.244.1.20; do
            name=${pair%%=*}.$Z want=${pair#*=}
            got=$(dig @127.0.0.1 -p "$DNS_PORT" +time=2 +tries=1 +short "$name" A 2>&1 | tr '\n' ' ' | sed 's/ $//') || true
            checks=$((checks + 1))
            if [ "$got" != "$want" ]; then
                wrong=$((wrong + 1))
                echo "$(date -u +%H:%M:%S) $name: want $want got '${got}'" >> "$WORK/wrong.log"
            fi
        done
        echo "$checks $wrong" > "$WORK/check.count"
        i=$((i + 1))
        sleep 1
    done
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_loop() {
    local i=0
    while [ "$i" -lt $((SOAK_SECS / RSS_EVERY + 3)) ]; do
        echo "$(( $(date +%s) - START )) $(rss_kib "$KUBEDNS") $(rss_kib "$DNSMASQ") $(rss_kib "$SANDBOX")" >> "$WORK/rss.txt"
        i=$((i + 1))
        [ "$(date +%s)" -lt "$END" ] || break
        sleep "$RSS_EVERY"
    done
}

echo "0 0" > "$WORK/churn.count"; echo "0 0" > "$WORK/check.count"; : > "$WORK/wrong.log"; : > "$WORK/faults.log"
echo "t_s kubedns_kib dnsmasq_kib sandbox_kib" > "$WORK/rss.hdr"; : > "$WORK/rss.txt"
churn_loop & PIDS+=("$!")
fault_loop & PIDS+=("$!")
check_loop & CHECK=$!; PIDS+=("$CHECK")
rss_loop & RSS=$!; PIDS+=("$RSS")

log "soak for ${SOAK_SECS} s: dnsperf -Q $QPS through dnsmasq-rs, churn every 0.5 s, faults at 20 s then every ${FAULT_EVERY} s"
timeout $((SOAK_SECS + 60)) dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$WORK/queries.txt" -l "$SOAK_SECS" -Q "$QPS" \
    > "$WORK/dnsperf.txt" 2>&1 &
PERF=$!; PIDS+=("$PERF")
wait "$PERF" || log "dnsperf exited non-zero (see $WORK/dnsperf.txt)"
for _ in $(seq 150); do   # let the loops see END (bounded 15 s)
    kill -0 "$CHECK" 2>/dev/null || kill -0 "$RSS" 2>/dev/null || break
    sleep 0.1
done
# final RSS sample, then crash check before anything is stopped
echo "$(( $(date +%s) - START )) $(rss_kib "$KUBEDNS") $(rss_kib "$DNSMASQ") $(rss_kib "$SANDBOX")" >> "$WORK/rss.txt"

# ---- report ----------------------------------------------------------------------------------
CRASHES=0; DEAD=""
for pn in "sandbox:$SANDBOX" "kubedns:$KUBEDNS" "dnsmasq-rs:$DNSMASQ" "healthz:$HEALTHZ"; do
    if ! kill -0 "${pn#*:}" 2>/dev/null; then CRASHES=$((CRASHES + 1)); DEAD="$DEAD ${pn%%:*}"; fi
done
read -r CHECKS WRONG < "$WORK/check.count"
read -r CHURN_OK CHURN_FAIL < "$WORK/churn.count"
FAULTS=$(grep -c 'close-watches + 500s' "$WORK/faults.log" || true)

echo
echo "== kube-dns-rs soak: ${SOAK_SECS} s, profile $PROFILE, dnsperf -Q $QPS =="
echo "crashes:               $CRASHES${DEAD:+ (died:$DEAD)}"
echo "stable-name checks:    $CHECKS, wrong or missing answers: $WRONG"
[ "$WRONG" = 0 ] || sed -n '1,10p' "$WORK/wrong.log"
echo "churn patches:         $CHURN_OK ok, $CHURN_FAIL rejected (API faults)"
echo "faults injected:       $FAULTS (close-watches + error500 5 s)"
echo "dnsperf:"
grep -E 'Queries (sent|completed|lost)|Response codes|Queries per second|Average Latency' "$WORK/dnsperf.txt" | sed 's/^ */  /' || true
echo "RSS (KiB) samples every ${RSS_EVERY} s: $WORK/rss.txt (t_s kubedns dnsmasq-rs sandbox)"
FAIL_RSS=0
report_rss() {   # NAME COLUMN GATE: growth = end vs baseline (the sample ~RSS_EVERY s in, after warm-up under load)
    local name=$1 col=$2 gate=$3 line
    line=$(awk -v c="$col" -v g="$RSS_GROWTH_MAX_PCT" -v n="$name" '
        NR == 1 { first = $c } NR == 2 { base = $c } { last = $c; if ($c + 0 > max) max = $c + 0 }
        END { if (base == "") base = first; growth = base > 0 ? (last - base) * 100 / base : 0
              printf "  %-18s start %7d  baseline %7d  end %7d  max %7d  growth %+6.1f%%%s\n",
                     n, first, base, last, max, growth, (growth > g ? " OVER" : "") }' "$WORK/rss.txt")
    echo "$line"
    if [ "$gate" = 1 ] && [[ "$line" == *OVER ]]; then FAIL_RSS=1; fi
}
report_rss kubedns 2 1
report_rss dnsmasq-rs 3 1
report_rss "sandbox(emulator)" 4 0

RC=0
[ "$CRASHES" = 0 ] || { echo "FAIL: $CRASHES process(es) died"; RC=1; }
[ "$WRONG" = 0 ] || { echo "FAIL: $WRONG wrong answers for stable names"; RC=1; }
[ "$FAIL_RSS" = 0 ] || { echo "FAIL: RSS grew by more than ${RSS_GROWTH_MAX_PCT}%"; RC=1; }
[ "$RC" = 0 ] && echo "PASS"
exit "$RC"
