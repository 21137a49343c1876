#!/usr/bin/env python3
"""Turns the rows collected by run.sh (scenario,server,metric,value,unit) into the results of one
run: <out>.csv (rows + date and machine columns), <out>.md (tables, ratios against dnsmasq and
unbound measured in the same run, issue-7 targets marked met/missed), <out>.dat (chart data for
lib/chart.gp); optionally replaces the results block of the README."""

import argparse
import csv
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
    "hit_ratio": "hit ratio (CHAOS)",
    "upstream_hit_ratio": "1 − upstream/queries",
    "hits": "hits",
    "misses": "misses",
    "upstream_queries": "upstream queries",
    "upstream_per_query": "upstream q per query",
    "rss_mib": "RSS MiB",
    "answer_mismatches_vs_dnsmasq": "answer diffs vs dnsmasq",
}

# Column order of the scenario tables.
ORDER = ["answer_mismatches_vs_dnsmasq", "qps", "cpu_us_per_query", "server_cpu_pct", "generator_cpu_pct",
         "avg_latency_ms", "p50_ms", "p99_ms", "p99.9_ms", "hit_ratio", "upstream_hit_ratio", "hits", "misses",
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


def targets(data):
    """(target, measured, verdict) for every issue-7 target whose scenario ran."""
    out = []
    if "cache-hit" in data:
        rs, dm = get(data, "cache-hit", "dnsmasq-rs", "cpu_us_per_query"), get(data, "cache-hit", "dnsmasq", "cpu_us_per_query")
        r = ratio(rs, dm)
        out.append(("dnsmasq-rs cache-hit CPU/query ≤ 0.85× dnsmasq",
                    f"{fmt(rs)} vs {fmt(dm)} µs = {fmt(r)}×", verdict(r is not None and r <= 0.85)))
    if "auth" in data:
        kd, dm = get(data, "auth", "kubedns", "cpu_us_per_query"), get(data, "auth", "dnsmasq", "cpu_us_per_query")
        r = ratio(kd, dm)
        out.append(("kubedns CPU/query ≤ dnsmasq on the same records",
                    f"{fmt(kd)} vs {fmt(dm)} µs = {fmt(r)}×", verdict(r is not None and r <= 1.0)))
        kd2 = get(data, "auth", "kubedns (mix without SRV)", "cpu_us_per_query")
        dm2 = get(data, "auth", "dnsmasq (no srv-host; mix without SRV)", "cpu_us_per_query")
        if kd2 is not None and dm2 is not None:
            r2 = ratio(kd2, dm2)
            out.append(("same, without SRV (dnsmasq's host-record path alone; stricter)",
                        f"{fmt(kd2)} vs {fmt(dm2)} µs = {fmt(r2)}×", verdict(r2 is not None and r2 <= 1.0)))
    if "miss" in data:
        rs, dm = get(data, "miss", "dnsmasq-rs", "qps"), get(data, "miss", "dnsmasq", "qps")
        ref = get(data, "miss", "dnsmasq-rs", "refused")
        ok = rs is not None and dm is not None and rs >= dm and ref == 0
        out.append(("miss path ≥ dnsmasq QPS, no REFUSED below the forward limit (100 outstanding < 150)",
                    f"{fmt(rs)} vs {fmt(dm)} QPS = {fmt(ratio(rs, dm))}×, REFUSED {fmt(ref)}", verdict(ok)))
    if "both-cores" in data:
        one = "dnsmasq-rs (1 worker)"
        two = "dnsmasq-rs (2 workers)"
        q1, q2 = get(data, "both-cores", one, "qps"), get(data, "both-cores", two, "qps")
        r = ratio(q2, q1)
        busy = sum(x or 0 for x in (get(data, "both-cores", one, "server_cpu_pct"), get(data, "both-cores", one, "generator_cpu_pct")))
        if r is not None and r >= 1.6:
            v = "met"
        elif busy >= 170:
            v = "not measurable here: with 1 worker, server + dnsperf already use " \
                f"{busy:.0f} % of the 2 cores (generator-bound)"
        else:
            v = "**missed**"
        out.append(("two workers ≥ 1.6× one worker (where the generator allows)",
                    f"{fmt(q2)} vs {fmt(q1)} QPS = {fmt(r)}×", v))
    if "zipf" in data:
        rs, dm = get(data, "zipf", "dnsmasq-rs", "hit_ratio"), get(data, "zipf", "dnsmasq", "hit_ratio")
        urs, udm = get(data, "zipf", "dnsmasq-rs", "upstream_hit_ratio"), get(data, "zipf", "dnsmasq", "upstream_hit_ratio")
        out.append(("dnsmasq-rs hit ratio (CHAOS hits/(hits+misses)) ≥ dnsmasq at cache size 1000",
                    f"{f4(rs)} vs {f4(dm)} (1 − upstream/queries: {f4(urs)} vs {f4(udm)})",
                    verdict(rs is not None and dm is not None and rs >= dm)))
    if "large" in data:
        kd, dm = get(data, "large", "kubedns", "cpu_us_per_query"), get(data, "large", "dnsmasq", "cpu_us_per_query")
        r = ratio(kd, dm)
        out.append(("large headless Service (1000 endpoints, UDP+EDNS) CPU/query ≤ dnsmasq",
                    f"{fmt(kd)} vs {fmt(dm)} µs = {fmt(r)}×", verdict(r is not None and r <= 1.0)))
    if "scale" in data:
        s = data["scale"].get("kubedns", {})
        n = f"{fmt(s.get('services'))} Services / {fmt(s.get('endpoints'))} endpoints"
        rd, rss, p99 = s.get("ready_s"), s.get("peak_rss_mib"), s.get("prog_latency_p99_ms")
        out.append((f"ready < 3 s from start ({n})", f"{fmt(rd)} s (legacy kube-dns 1.14.13: 1.6 s)",
                    verdict(rd is not None and rd < 3)))
        out.append((f"peak RSS < 100 MiB ({n})", f"{fmt(rss)} MiB (legacy: 129 MiB; CoreDNS formula ≈164 MB)",
                    verdict(rss is not None and rss < 100)))
        out.append(("event → answer p99 < 100 ms at 100 updates/s", f"{fmt(p99)} ms",
                    verdict(p99 is not None and p99 < 100 and s.get("updates_not_visible_5s", 1) == 0)))
    out.extend(report_k8s.targets(data, get, fmt, verdict))
    return out


def verdict(ok):
    return "met" if ok else "**missed**"


def scenario_table(sc, data, order, morder):
    servers = order.get(sc, [])
    lines = []
    if sc in ("auth-k8s", "auth-k8s-big"):
        return report_k8s.auth_table(sc, data, order, get, fmt)
    if sc == "scale-k8s":
        return report_k8s.scale_table(sc, data, order, fmt)
    if sc == "scale":
        s = data[sc].get("kubedns", {})
        lines.append("| metric | value |")
        lines.append("| --- | --- |")
        for m in morder[sc]:
            unit = {"s": " s", "MiB": " MiB", "B": " B", "ms": " ms", "us": " µs", "qps": " qps", "/s": " /s"}
            lines.append(f"| {SCALE_LABELS.get(m, m)} | {fmt(s.get(m))}{unit.get(UNITS.get(m, ''), '')} |")
        return lines
    present = set(morder.get(sc, []))
    metrics = [m for m in ORDER if m in present]
    refs = [r for r in ("dnsmasq", "unbound") if r in servers]
    head = ["server"]
    cols = []  # (metric, reference server or None)
    for m in metrics:
        head.append(LABELS[m])
        cols.append((m, None))
        if m == "cpu_us_per_query":
            for r in refs:
                head.append(f"CPU/q ÷ {r}")
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
                vals.append(fmt(ratio(get(data, sc, srv, m), get(data, sc, ref, m))) + "×")
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", required=True)
    p.add_argument("--out", required=True, help="path prefix: writes .md .csv .dat")
    p.add_argument("--stamp", required=True)
    p.add_argument("--quick", default="0")
    p.add_argument("--load", default="?")
    p.add_argument("--durations", default="")
    p.add_argument("--readme", default="")
    a = p.parse_args()
    data, order, morder, units = load_rows(a.rows)
    UNITS.update(units)
    mach = machine()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    rev = version(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
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
    md.append(f"- Date: {date} (run {a.stamp}), source revision `{rev}` plus uncommitted work at run time")
    md.append(f"- Machine: {mach['nproc']} × {mach['cpu']}, kernel {mach['kernel']}; "
              f"load average (1 min) before/after: {a.load}")
    md.append(f"- Tools: {vers['dnsmasq']}, unbound {vers['unbound']}, dnsperf {vers['dnsperf'].replace('Version ', '')}")
    md.append(f"- Method: server pinned to CPU 0, dnsperf to CPU 1; CPU/query = server utime+stime "
              f"plus reaped children (/proc/PID/stat) ÷ answered queries; {a.durations}. Ratios compare servers measured in "
              f"this same run. See integration/bench/README.md.")
    md.append("")
    tg = targets(data)
    if tg:
        md.append("## Issue 7 targets")
        md.append("")
        md.append("| target | measured | result |")
        md.append("| --- | --- | --- |")
        for t, m, v in tg:
            md.append(f"| {t} | {m} | {v} |")
        md.append("")
    for sc, title in SCENARIOS:
        if sc not in data:
            continue
        md.append(f"## {title}")
        md.append("")
        md.extend(scenario_table(sc, data, order, morder))
        md.append("")
    with open(a.out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(md))

    # Chart data: CPU µs/query and kQPS per scenario/server (scenarios 1-4 and scale).
    with open(a.out + ".dat", "w", encoding="utf-8") as f:
        f.write("# label cpu_us_per_query kqps\n")
        for sc, _ in SCENARIOS[:4]:
            for srv in order.get(sc, []):
                cpu = get(data, sc, srv, "cpu_us_per_query")
                q = get(data, sc, srv, "qps")
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
            body = "\n".join(md[2:])  # without the title
            block = (f"{start}\n\nLatest full run (`results/latest.md`, chart `results/latest.png`):\n\n"
                     f"{body}\n\n![benchmark chart](results/latest.png)\n\n{end}")
            text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
            with open(a.readme, "w", encoding="utf-8") as f:
                f.write(text)


if __name__ == "__main__":
    main()
