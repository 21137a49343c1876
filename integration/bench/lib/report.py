#!/usr/bin/env python3
"""Turns the rows collected by run.sh (scenario,server,metric,value,unit) into the results of one
run: <out>.csv (rows + date and machine columns), <out>.md (tables, ratios against dnsmasq and
unbound measured in the same run, the issue-7 and issue-16 targets marked met/missed, the
conditions each row ran under, versions, the config files), <out>.dat (chart data for
lib/chart.gp); optionally replaces the results block of the README.

Every target is decided on exact values: CPU per query from the raw CPU ticks and answered-query
counts run.sh writes as extra rows, QPS from answered queries and run time, p99 from the seconds
dnsperf printed — never from the rounded figures shown in the tables. "Not measurable" is only
ever written with the measured evidence (the machine's idle CPU from /proc/stat)."""

import argparse
import csv
import math
import os
import platform
import subprocess
from datetime import datetime, timezone

import report_k8s

SCENARIOS = [
    ("cache-hit", "1. Cache hits (caching forwarders, same upstream, cache 10000, warm 1000 names)"),
    ("miss", "2. Forward/miss path (caching disabled, upstream dnsmasq on the same core)"),
    ("auth", "3. Authoritative path: kubedns vs dnsmasq serving the same records (realistic mix)"),
    ("both-cores", "4. Both cores: nothing pinned, dnsperf (2 threads) shares the 2 cores"),
    ("two-workers", "4b. Two workers: dnsmasq-rs --workers=2 vs 1 at a fixed rate (CPU per query; cache hits)"),
    ("rfc5452", "4c. Upstream source ports and IDs (RFC 5452): a recording upstream behind each forwarder, caching off"),
    ("zipf", "5. Zipf stream through a 1000-entry cache (100k names, TTL 5-300 s)"),
    ("scale", "6. Scale: kubedns fed by the API emulator"),
    ("large", "7. Large headless Services (1000 and 5000 endpoints with hostnames): whole-set A queries"),
] + report_k8s.SCENARIOS

LABELS = {
    "qps": "QPS",
    "avg_latency_ms": "avg ms (sat.)",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "p99.9_ms": "p99.9 ms",
    "cpu_us_per_query": "CPU µs/query",
    "server_cpu_pct": "server CPU %",
    "generator_cpu_pct": "dnsperf CPU %",
    "queries": "queries",
    "lost": "lost",
    "refused": "REFUSED",
    "servfail": "SERVFAIL",
    "hit_ratio": "hit ratio (CHAOS; CoreDNS: Prometheus)",
    "upstream_hit_ratio": "1 − upstream/queries",
    "hits": "hits",
    "misses": "misses",
    "upstream_queries": "upstream queries",
    "upstream_per_query": "upstream q per query",
    "rss_mib": "RSS MiB",
    "answer_mismatches_vs_dnsmasq": "answer diffs vs dnsmasq",
    "machine_idle_pct": "machine idle %",
    "distinct_queries": "distinct queries",
    # fixed-rate runs (dnsperf -Q): the rate is in the column title (see fixed_label)
    "qps_fixed": "QPS achieved at {rate}",
    "cpu_us_per_query_fixed": "CPU µs/query at {rate}",
    "server_cpu_pct_fixed": "server CPU % at {rate}",
    "machine_idle_pct_fixed": "machine idle % at {rate}",
    "lost_fixed": "lost at {rate}",
}

# Raw rows (exact totals for the targets), in the CSV but not in the tables.
RAW = {"cpu_ticks", "cpu_ticks_fixed", "run_time_s", "queries_fixed", "p50_s", "p99_s", "p99.9_s",
       "latency_samples"}

# Column order of the scenario tables.
ORDER = ["answer_mismatches_vs_dnsmasq", "distinct_queries", "qps", "cpu_us_per_query", "server_cpu_pct",
         "generator_cpu_pct", "machine_idle_pct", "qps_fixed", "cpu_us_per_query_fixed", "server_cpu_pct_fixed",
         "machine_idle_pct_fixed", "lost_fixed", "avg_latency_ms", "p50_ms", "p99_ms", "p99.9_ms", "hit_ratio", "upstream_hit_ratio", "hits", "misses",
         "upstream_queries", "upstream_per_query", "queries", "lost", "refused", "servfail", "rss_mib"]

SCALE_LABELS = {
    "services": "Services",
    "headless_services": "headless Services",
    "endpoints": "endpoints",
    "endpointslices": "EndpointSlices",
    "ready_empty_s": "time to ready, empty cluster",
    "ready_s": "time to ready (start → /readiness 200)",
    "rss_empty_mib": "RSS at ready, empty cluster",
    "rss_ready_mib": "RSS at ready, full cluster",
    "peak_rss_at_ready_mib": "peak RSS (VmHWM) at ready",
    "peak_rss_mib": "peak RSS (VmHWM) at the end",
    "bytes_per_object": "bytes per object (Service or endpoint)",
    "bytes_per_api_object": "bytes per API object (Service or EndpointSlice)",
    "qps_no_updates": "query rate, no updates",
    "cpu_us_per_query_no_updates": "CPU µs/query, no updates",
    "updates_sent": "endpoint updates sent",
    "update_rate": "update rate achieved",
    "updates_not_visible_5s": "updates not visible within 5 s",
    "prog_latency_p50_ms": "programming latency p50 (API write → answer)",
    "prog_latency_p90_ms": "programming latency p90",
    "prog_latency_p99_ms": "programming latency p99",
    "prog_latency_max_ms": "programming latency max",
    "qps_with_updates": "query rate while updates flow",
    "cpu_us_per_query_with_updates": "CPU µs/query while updates flow",
    "cpu_us_per_update": "CPU µs per endpoint update (updates alone, net of latency polls)",
    "emulated_minor": "emulated Kubernetes minor (below 33: RV=0 lists unpaginated)",
    "watch_list": "watch-list served (1) or rejected (0)",
    "realistic_objects": "objects as a real cluster serves them (1) or lean (0)",
    "list_mib_services": "one RV=0 LIST of Services",
    "list_mib_endpointslices": "one RV=0 LIST of EndpointSlices",
    "list_mib_endpoints": "one RV=0 LIST of Endpoints",
    "rss_at_ready_mib": "RSS at the moment of ready",
    "bytes_per_endpoint": "bytes per endpoint (steady RSS above empty)",
    "relist_services_s": "forced relist (410) of Services: time to a new answer",
    "relist_endpoints_s": "forced relist (410) of endpoints: time to a new answer",
    "peak_rss_after_relist_mib": "peak RSS (VmHWM) through the forced relists",
    "rss_after_relist_mib": "RSS after the forced relists",
    "rss_end_mib": "RSS at the end",
    "prog_latency_p99_ms_at_1000": "programming latency p99 at 1,000 updates/s",
}


def fmt(v):
    if v is None:
        return "–"
    if float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


def f4(v):
    return "–" if v is None else f"{v:.4f}"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count() or 0), "cpu": cpu, "kernel": platform.release()}


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def load_rows(path):
    data = {}  # scenario -> server -> metric -> value
    order = {}  # scenario -> [servers]
    morder = {}  # scenario -> [metrics]
    units = {}
    with open(path, encoding="utf-8") as f:
        for rec in csv.reader(f):
            if len(rec) != 5:
                continue
            sc, srv, metric, value, unit = rec
            try:
                v = float(value)
            except ValueError:
                continue
            data.setdefault(sc, {}).setdefault(srv, {})[metric] = v
            order.setdefault(sc, [])
            if srv not in order[sc]:
                order[sc].append(srv)
            morder.setdefault(sc, [])
            if metric not in morder[sc]:
                morder[sc].append(metric)
            units[metric] = unit
    return data, order, morder, units


def get(data, sc, srv, m):
    return data.get(sc, {}).get(srv, {}).get(m)


def ratio(a, b):
    return a / b if a is not None and b else None


# Exact values (from the raw rows; None when a run did not write them).
CLK_TCK = [100.0]  # from the meta file


def cpu_exact(data, sc, srv, sfx=""):
    """Server CPU µs per answered query from the raw ticks and query count of one run."""
    t = get(data, sc, srv, "cpu_ticks" + sfx)
    n = get(data, sc, srv, ("queries" + sfx) if sfx else "queries")
    if t is None or not n:
        return get(data, sc, srv, "cpu_us_per_query" + sfx)  # rows of older runs
    return t / CLK_TCK[0] * 1e6 / n


def qps_exact(data, sc, srv):
    n, rt = get(data, sc, srv, "queries"), get(data, sc, srv, "run_time_s")
    return n / rt if n is not None and rt else get(data, sc, srv, "qps")


def p99_exact(data, sc, srv):
    s = get(data, sc, srv, "p99_s")
    return s * 1000 if s is not None else get(data, sc, srv, "p99_ms")


def expected_distinct(draws, size):
    """Distinct values expected among `draws` uniform draws from `size` values."""
    return size * (1 - math.exp(-draws / size)) if size > 0 else 0.0


# A fixed-rate run reached its rate when dnsperf's QPS is at least this share of it.
RATE_REACHED = 0.98
# "Not measurable" needs evidence: the machine (all CPUs) was at most this idle while the
# generator and the server ran, i.e. the box, not the server, was the limit.
IDLE_LIMIT_PCT = 5.0
# A forwarder passes the RFC 5452 check when its distinct source ports and IDs reach this share
# of what uniform random choice gives for the same number of queries (ports: over the range it
# was seen to use, at least RFC5452_MIN_PORT_SPAN wide).
RFC5452_SHARE = 0.9
RFC5452_MIN_PORT_SPAN = 10000


def targets(data, meta):
    """(issue, target, measured, verdict) for every target whose scenario ran."""
    out = []
    fixed = meta.get("fixed_qps", "40000")
    if "cache-hit" in data:
        rs, dm = cpu_exact(data, "cache-hit", "dnsmasq-rs"), cpu_exact(data, "cache-hit", "dnsmasq")
        r = ratio(rs, dm)
        out.append(("7", "dnsmasq-rs cache-hit CPU/query ≤ 0.85× dnsmasq",
                    f"{fmt(rs)} vs {fmt(dm)} µs = {fmt(r)}×", verdict(r is not None and r <= 0.85)))
        out.append(("16", "dnsmasq-rs cache-hit CPU/query ≤ 0.60× dnsmasq, saturated",
                    f"{fmt(rs)} vs {fmt(dm)} µs = {fmt(r)}×", verdict(r is not None and r <= 0.60)))
        rs, dm = cpu_exact(data, "cache-hit", "dnsmasq-rs", "_fixed"), cpu_exact(data, "cache-hit", "dnsmasq", "_fixed")
        if rs is not None and dm is not None:
            r = ratio(rs, dm)
            short = [f"{srv} reached {fmt(q)} QPS" for srv in ("dnsmasq-rs", "dnsmasq")
                     for q in [get(data, "cache-hit", srv, "qps_fixed")]
                     if q is not None and q < RATE_REACHED * float(fixed)]
            note = f" ({'; '.join(short)}: saturated, not the fixed rate)" if short else ""
            out.append(("16", f"dnsmasq-rs cache-hit CPU/query ≤ 0.60× dnsmasq at {int(fixed):,} QPS",
                        f"{fmt(rs)} vs {fmt(dm)} µs = {fmt(r)}×{note}", verdict(r is not None and r <= 0.60)))
        rs, dm = p99_exact(data, "cache-hit", "dnsmasq-rs"), p99_exact(data, "cache-hit", "dnsmasq")
        if rs is not None and dm is not None:
            out.append(("16", f"dnsmasq-rs cache-hit p99 at {int(meta.get('lat_qps', '20000')):,} QPS ≤ dnsmasq's",
                        f"{rs:.3f} vs {dm:.3f} ms", verdict(rs <= dm)))
    if "auth" in data:
        kd, dm = cpu_exact(data, "auth", "kubedns"), cpu_exact(data, "auth", "dnsmasq")
        r = ratio(kd, dm)
        out.append(("7", "kubedns CPU/query ≤ dnsmasq on the same records",
                    f"{fmt(kd)} vs {fmt(dm)} µs = {fmt(r)}×", verdict(r is not None and r <= 1.0)))
        kd2 = cpu_exact(data, "auth", "kubedns (mix without SRV)")
        dm2 = cpu_exact(data, "auth", "dnsmasq (no srv-host; mix without SRV)")
        if kd2 is not None and dm2 is not None:
            r2 = ratio(kd2, dm2)
            out.append(("7", "same, without SRV (dnsmasq's host-record path alone; stricter)",
                        f"{fmt(kd2)} vs {fmt(dm2)} µs = {fmt(r2)}×", verdict(r2 is not None and r2 <= 1.0)))
    if "miss" in data:
        rs, dm = qps_exact(data, "miss", "dnsmasq-rs"), qps_exact(data, "miss", "dnsmasq")
        ref = get(data, "miss", "dnsmasq-rs", "refused")
        ok = rs is not None and dm is not None and rs >= dm and ref == 0
        out.append(("7, 16", "forward path ≥ 1.0× dnsmasq QPS, 0 REFUSED below the forward limit (100 outstanding < 150)",
                    f"{fmt(rs)} vs {fmt(dm)} QPS = {fmt(ratio(rs, dm))}×, REFUSED {fmt(ref)}", verdict(ok)))
    if "rfc5452" in data:
        out.append(("16", "forward path: a fresh random source port and ID per upstream query (RFC 5452)",
                    *rfc5452_verdict(data, "dnsmasq-rs")))
    if "both-cores" in data:
        one = "dnsmasq-rs (1 worker)"
        two = "dnsmasq-rs (2 workers)"
        q1, q2 = qps_exact(data, "both-cores", one), qps_exact(data, "both-cores", two)
        r = ratio(q2, q1)
        idle = get(data, "both-cores", two, "machine_idle_pct")
        if r is not None and r >= 1.6:
            v = "met"
        elif idle is not None and idle <= IDLE_LIMIT_PCT:
            gen = get(data, "both-cores", two, "generator_cpu_pct")
            srv = get(data, "both-cores", two, "server_cpu_pct")
            v = (f"not measurable here: the machine was {fmt(idle)} % idle during the 2-worker run "
                 f"(dnsperf {fmt(gen)} %, server {fmt(srv)} % of one core): the box, not the server, is the limit")
        else:
            v = "**missed**" + (f" (machine {fmt(idle)} % idle during the 2-worker run)" if idle is not None else "")
        out.append(("7", "two workers ≥ 1.6× one worker QPS (where the generator allows)",
                    f"{fmt(q2)} vs {fmt(q1)} QPS = {fmt(r)}×", v))
    if "two-workers" in data:
        one, two = "dnsmasq-rs (1 worker)", "dnsmasq-rs (2 workers)"
        c1, c2 = cpu_exact(data, "two-workers", one, "_fixed"), cpu_exact(data, "two-workers", two, "_fixed")
        if c1 is not None and c2 is not None:
            rate = int(meta.get("workers_qps", "60000"))
            short = [f"{srv} reached {fmt(q)} QPS" for srv in (two, one)
                     for q in [get(data, "two-workers", srv, "qps_fixed")]
                     if q is not None and q < RATE_REACHED * rate]
            note = f" ({'; '.join(short)}: below the fixed rate)" if short else ""
            out.append(("16", f"cost of a second worker: CPU/query at {rate:,} QPS, 2 workers ÷ 1 (reported, no threshold)",
                        f"{fmt(c2)} vs {fmt(c1)} µs = {fmt(ratio(c2, c1))}×{note}", "measured"))
    if "zipf" in data:
        rs, dm = get(data, "zipf", "dnsmasq-rs", "hit_ratio"), get(data, "zipf", "dnsmasq", "hit_ratio")
        urs, udm = get(data, "zipf", "dnsmasq-rs", "upstream_hit_ratio"), get(data, "zipf", "dnsmasq", "upstream_hit_ratio")
        hr, hd = get(data, "zipf", "dnsmasq-rs", "hits"), get(data, "zipf", "dnsmasq", "hits")
        mr, md_ = get(data, "zipf", "dnsmasq-rs", "misses"), get(data, "zipf", "dnsmasq", "misses")
        if None not in (hr, hd, mr, md_) and hr + mr and hd + md_:
            ok = hr * (hd + md_) >= hd * (hr + mr)  # hr/(hr+mr) >= hd/(hd+md), exact in integers
        else:
            ok = rs is not None and dm is not None and rs >= dm
        out.append(("7", "dnsmasq-rs hit ratio (CHAOS hits/(hits+misses)) ≥ dnsmasq at cache size 1000",
                    f"{f4(rs)} vs {f4(dm)} (1 − upstream/queries: {f4(urs)} vs {f4(udm)})", verdict(ok)))
    if "large" in data:
        kd, dm = cpu_exact(data, "large", "kubedns"), cpu_exact(data, "large", "dnsmasq")
        r = ratio(kd, dm)
        out.append(("7", "large headless Service (1000 endpoints, UDP+EDNS) CPU/query ≤ dnsmasq",
                    f"{fmt(kd)} vs {fmt(dm)} µs = {fmt(r)}×", verdict(r is not None and r <= 1.0)))
    if "scale" in data:
        s = data["scale"].get("kubedns", {})
        n = f"{fmt(s.get('services'))} Services / {fmt(s.get('endpoints'))} endpoints"
        rd, rss, p99 = s.get("ready_s"), s.get("peak_rss_mib"), s.get("prog_latency_p99_ms")
        out.append(("7", f"ready < 3 s from start ({n})", f"{fmt(rd)} s (legacy kube-dns 1.14.13: 1.6 s)",
                    verdict(rd is not None and rd < 3)))
        out.append(("7", f"peak RSS < 100 MiB ({n})", f"{fmt(rss)} MiB (legacy: 129 MiB; CoreDNS formula ≈164 MB)",
                    verdict(rss is not None and rss < 100)))
        out.append(("7", "event → answer p99 < 100 ms at 100 updates/s", f"{fmt(p99)} ms",
                    verdict(p99 is not None and p99 < 100 and s.get("updates_not_visible_5s", 1) == 0)))
    out.extend(("16",) + t for t in report_k8s.targets(data, exact_metric, fmt, verdict))
    return out


def rfc5452_verdict(data, srv):
    """(measured, verdict) of the source-port/ID check for one forwarder."""
    r = data.get("rfc5452", {}).get(srv, {})
    n, ports, ids = r.get("upstream_queries"), r.get("distinct_src_ports"), r.get("distinct_ids")
    lo, hi = r.get("port_min"), r.get("port_max")
    if None in (n, ports, ids, lo, hi):
        return "no data", "**missed**"
    span = int(hi - lo + 1)
    ep, ei = expected_distinct(n, span), expected_distinct(n, 65536)
    ok = span >= RFC5452_MIN_PORT_SPAN and ports >= RFC5452_SHARE * ep and ids >= RFC5452_SHARE * ei
    measured = (f"{fmt(n)} upstream queries: {fmt(ports)} distinct source ports (uniform over the "
                f"{int(lo)}–{int(hi)} range seen: {ep:,.0f}), {fmt(ids)} distinct IDs (uniform: {ei:,.0f}); "
                f"same port as the previous query {fmt(r.get('same_port_as_previous'))}×")
    return measured, verdict(ok)


def verdict(ok):
    return "met" if ok else "**missed**"


def exact_metric(data, sc, srv, m):
    """The exact value behind a ratio column (ratios are never taken of rounded figures)."""
    if m == "cpu_us_per_query":
        return cpu_exact(data, sc, srv)
    if m == "cpu_us_per_query_fixed":
        return cpu_exact(data, sc, srv, "_fixed")
    if m == "qps":
        return qps_exact(data, sc, srv)
    return get(data, sc, srv, m)


def rfc5452_table(data, order):
    lines = ["| server | upstream queries | distinct source ports | expected (uniform over the range seen) "
             "| port range seen | distinct IDs | expected (uniform 16-bit) | same port as previous "
             "| same ID as previous | verdict |",
             "|" + " --- |" * 10]
    for srv in order.get("rfc5452", []):
        r = data["rfc5452"][srv]
        n, lo, hi = r.get("upstream_queries"), r.get("port_min"), r.get("port_max")
        ep = expected_distinct(n, hi - lo + 1) if None not in (n, lo, hi) else None
        ei = expected_distinct(n, 65536) if n is not None else None
        rng = f"{int(lo)}–{int(hi)}" if None not in (lo, hi) else "–"
        lines.append(f"| {srv} | {fmt(n)} | {fmt(r.get('distinct_src_ports'))} | {fmt(round(ep) if ep else None)} "
                      f"| {rng} | {fmt(r.get('distinct_ids'))} | {fmt(round(ei) if ei else None)} "
                      f"| {fmt(r.get('same_port_as_previous'))} | {fmt(r.get('same_id_as_previous'))} "
                      f"| {rfc5452_verdict(data, srv)[1]} |")
    return lines


def scenario_table(sc, data, order, morder, meta):
    servers = order.get(sc, [])
    lines = []
    if sc in ("auth-k8s", "auth-k8s-big"):
        return report_k8s.auth_table(sc, data, order, get, fmt)
    if sc == "scale-k8s":
        return report_k8s.scale_table(sc, data, order, fmt)
    if sc == "rfc5452":
        return rfc5452_table(data, order)
    if sc == "scale":
        s = data[sc].get("kubedns", {})
        lines.append("| metric | value |")
        lines.append("| --- | --- |")
        for m in morder[sc]:
            if m in RAW:
                continue
            unit = {"s": " s", "MiB": " MiB", "B": " B", "ms": " ms", "us": " µs", "qps": " qps", "/s": " /s"}
            lines.append(f"| {SCALE_LABELS.get(m, LABELS.get(m, m))} | {fmt(s.get(m))}{unit.get(UNITS.get(m, ''), '')} |")
        return lines
    present = set(morder.get(sc, []))
    metrics = [m for m in ORDER if m in present]
    refs = [r for r in ("dnsmasq", "unbound") if r in servers]
    rate = int(meta.get("workers_qps" if sc == "two-workers" else "fixed_qps", "0") or 0)
    head = ["server"]
    cols = []  # (metric, reference server or None)
    for m in metrics:
        head.append(LABELS[m].format(rate=f"{rate // 1000}k QPS"))
        cols.append((m, None))
        if m in ("cpu_us_per_query", "cpu_us_per_query_fixed"):
            for r in refs:
                head.append(f"CPU/q ÷ {r}" + (" (fixed rate)" if m.endswith("_fixed") else ""))
                cols.append((m, r))
        if m == "qps" and sc in ("miss", "both-cores", "auth", "large") and "dnsmasq" in refs:
            head.append("QPS ÷ dnsmasq")
            cols.append((m, "dnsmasq"))
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + " --- |" * len(head))
    for srv in servers:
        vals = []
        for m, r in cols:
            if r is None and UNITS.get(m) == "ratio" and get(data, sc, srv, m) is not None:
                vals.append(f"{get(data, sc, srv, m):.4f}")
            elif r is None:
                vals.append(fmt(get(data, sc, srv, m)))
            else:
                ref = REF_OVERRIDE.get(srv, r) if r == "dnsmasq" else r
                vals.append(fmt(ratio(exact_metric(data, sc, srv, m), exact_metric(data, sc, ref, m))) + "×")
        lines.append(f"| {srv} | " + " | ".join(vals) + " |")
    return lines


UNITS = {}
# Rows compared with a different dnsmasq row than the plain "dnsmasq" one (same query file).
REF_OVERRIDE = {
    "kubedns (TCP)": "dnsmasq (TCP)",
    "dnsmasq (TCP)": "dnsmasq (TCP)",
    "kubedns (5000 endpoints)": "dnsmasq (5000 endpoints)",
    "dnsmasq (5000 endpoints)": "dnsmasq (5000 endpoints)",
    "kubedns (mix without SRV)": "dnsmasq (no srv-host; mix without SRV)",
    "dnsmasq (no srv-host; mix without SRV)": "dnsmasq (no srv-host; mix without SRV)",
}


def read_meta(path):
    meta = {}
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    meta[k] = v
    return meta


def read_conditions(path):
    """scenario -> [(server, conditions)] in the order run.sh wrote them."""
    out = {}
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                p = line.rstrip("\n").split("\t", 2)
                if len(p) == 3:
                    out.setdefault(p[0], []).append((p[1], p[2]))
    return out


def source_line(meta, rev_fallback):
    rev = meta.get("rev") or rev_fallback
    short = rev[:12] if rev and rev != "?" else "?"
    if meta.get("dirty") == "1":
        state = "plus uncommitted work (`git status --porcelain` was not empty at run start)"
    elif meta.get("dirty") == "0":
        state = "clean tree at run start"
    else:
        state = "tree state unknown"
    return short, state


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", required=True)
    p.add_argument("--out", required=True, help="path prefix: writes .md .csv .dat")
    p.add_argument("--stamp", required=True)
    p.add_argument("--quick", default="0")
    p.add_argument("--load", default="?")
    p.add_argument("--durations", default="")
    p.add_argument("--readme", default="")
    p.add_argument("--meta", default="", help="key=value file written by run.sh (revision, versions)")
    p.add_argument("--conditions", default="", help="scenario<TAB>server<TAB>conditions per row")
    p.add_argument("--configs", default="", help="directory of the config files the servers ran with")
    a = p.parse_args()
    data, order, morder, units = load_rows(a.rows)
    UNITS.update(units)
    meta = read_meta(a.meta)
    conds = read_conditions(a.conditions)
    CLK_TCK[0] = float(meta.get("clk_tck") or os.sysconf("SC_CLK_TCK"))
    mach = machine()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    rev, state = source_line(meta, version(["git", "-C", repo, "rev-parse", "HEAD"]))
    vers = {
        "dnsmasq": version(["dnsmasq", "--version"]).replace("Copyright", "").split("  ")[0].strip(),
        "unbound": version(["sh", "-c", "unbound -V | head -1"]),
        "dnsperf": version(["sh", "-c", "dnsperf -h 2>&1 | grep -i '^version' | head -1"]),
    }

    with open(a.out + ".csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["date", "nproc", "cpu_model", "kernel", "scenario", "server", "metric", "value", "unit"])
        with open(a.rows, encoding="utf-8") as rf:
            for rec in csv.reader(rf):
                if len(rec) == 5:
                    w.writerow([date, mach["nproc"], mach["cpu"], mach["kernel"]] + rec)

    md = []
    title = "kube-dns-rs benchmark" + (" (quick mode: short runs, indicative only)" if a.quick == "1" else "")
    md.append(f"# {title}")
    md.append("")
    md.append(f"- Date: {date} (run {a.stamp}), source revision `{rev}`, {state}")
    md.append(f"- Machine: {mach['nproc']} × {mach['cpu']}, kernel {mach['kernel']}; "
              f"load average (1 min) before/after: {a.load}")
    peers = [f"dnsmasq-rs and kubedns: this tree (`{rev}`)", vers["dnsmasq"], f"unbound {vers['unbound']}",
             f"dnsperf {vers['dnsperf'].replace('Version ', '')}"]
    if meta.get("coredns"):
        peers.append(f"CoreDNS: `{meta['coredns']}`")
    if meta.get("node-cache") or meta.get("module-node-cache"):
        peers.append(f"node-cache: {meta.get('node-cache', '')} (module `{meta.get('module-node-cache', '?')}`)")
    if meta.get("module-kube-dns"):
        peers.append(f"legacy kube-dns: module `{meta['module-kube-dns']}`")
    md.append("- Versions: " + "; ".join(peers))
    md.append(f"- Method: server pinned to CPU {meta.get('server_cpu', '0')}, dnsperf to CPU {meta.get('client_cpu', '1')} "
              f"(Go servers with GOMAXPROCS=1); CPU/query = server utime+stime "
              f"plus reaped children (/proc/PID/stat) ÷ answered queries; {a.durations}. Ratios compare servers measured in "
              f"this same run and are computed from the raw CPU ticks and query counts (CSV rows `cpu_ticks`, "
              f"`queries`), never from the rounded figures. Each table lists the conditions of its rows. "
              f"See integration/bench/README.md.")
    md.append("")
    tg = targets(data, meta)
    if tg:
        md.append("## Targets (issues 7 and 16)")
        md.append("")
        md.append("| issue | target | measured | result |")
        md.append("| --- | --- | --- | --- |")
        for i, t, m, v in tg:
            md.append(f"| {i} | {t} | {m} | {v} |")
        md.append("")
    for sc, stitle in SCENARIOS:
        if sc not in data:
            continue
        md.append(f"## {stitle}")
        md.append("")
        md.extend(scenario_table(sc, data, order, morder, meta))
        md.append("")
        if conds.get(sc):
            md.append("Conditions:")
            md.append("")
            for srv, c in conds[sc]:
                md.append(f"- **{srv}**: {c}")
            md.append("")
    body_end = len(md)
    if a.configs and os.path.isdir(a.configs) and os.listdir(a.configs):
        md.append("## Configuration files the servers ran with")
        md.append("")
        for name in sorted(os.listdir(a.configs)):
            with open(os.path.join(a.configs, name), encoding="utf-8") as f:
                text = f.read().rstrip("\n")
            md.append(f"<details><summary><code>{name}</code></summary>")
            md.append("")
            md.append("```")
            md.append(text)
            md.append("```")
            md.append("")
            md.append("</details>")
            md.append("")
    with open(a.out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(md))

    # Chart data: CPU µs/query and kQPS per scenario/server (scenarios 1-4 and scale).
    with open(a.out + ".dat", "w", encoding="utf-8") as f:
        f.write("# label cpu_us_per_query kqps\n")
        for sc in ("cache-hit", "miss", "auth", "both-cores"):
            for srv in order.get(sc, []):
                cpu = cpu_exact(data, sc, srv)
                q = qps_exact(data, sc, srv)
                if cpu is not None and q is not None:
                    f.write(f"\"{sc}: {srv}\" {cpu:.3f} {q / 1000:.2f}\n")
        s = data.get("scale", {}).get("kubedns", {})
        for m, label in (("cpu_us_per_query_no_updates", "scale: kubedns, no updates"),
                         ("cpu_us_per_query_with_updates", "scale: kubedns, 100 updates/s")):
            q = s.get("qps_no_updates" if "no_" in m else "qps_with_updates")
            if s.get(m) is not None and q is not None:
                f.write(f"\"{label}\" {s[m]:.3f} {q / 1000:.2f}\n")

    if a.readme and os.path.exists(a.readme):
        start, end = "<!-- results:start -->", "<!-- results:end -->"
        with open(a.readme, encoding="utf-8") as f:
            text = f.read()
        if start in text and end in text:
            body = "\n".join(md[2:body_end])  # without the title and the config files
            block = (f"{start}\n\nLatest full run (`results/latest.md`, with the config files; chart "
                     f"`results/latest.png`):\n\n{body}\n\n![benchmark chart](results/latest.png)\n\n{end}")
            text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
            with open(a.readme, "w", encoding="utf-8") as f:
                f.write(text)


if __name__ == "__main__":
    main()
