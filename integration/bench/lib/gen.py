#!/usr/bin/env python3
"""Deterministic input generators for the kube-dns-rs benchmark (integration/bench/run.sh).

Every output depends only on the arguments (fixed seeds, only random.Random.random() is used,
whose sequence is stable across CPython versions), so two runs on any machine get byte-identical
query files and record sets.

Subcommands:
  hosts  N names h<i>.bench.test: upstream dnsmasq host-records + query file (scenarios 1, 2, 4).
  auth   one cluster record set rendered twice -- as Services/EndpointSlices for the API emulator
         (kubedns) and as a dnsmasq conf (host-record/srv-host/local) -- plus a realistic query
         mix including the ndots:5 search-path NXDOMAIN storm, and a sample for an answer diff
         (scenario 3).
  k8s    scenario auth-k8s: the scenario-3 cluster plus --big more Services for the real control
         plane (selectorless Services, v1 Endpoints and EndpointSlices with the same addresses),
         the same records as a dnsmasq conf, the realistic mix and a set of >= 50,000 distinct
         questions (every Service's A/SRV/PTR, some AAAA, --missing nonexistent names).
  zipf   N names with TTLs spread over [ttl-min, ttl-max] for an upstream dnsmasq + a
         Zipf-distributed query stream (scenario 5).
  large  headless Services with thousands of endpoints (EndpointSlices of at most 1000, every
         endpoint with a hostname), for the emulator and as dnsmasq host-records, one query
         file per Service, and an answer-diff sample (scenario 7).
"""

import argparse
import bisect
import json
import os
import random

DOMAIN = "cluster.local"


def ip4(base_octet, i):
    """The i-th address of <base_octet>.0.0.0/8 (i < 2**24)."""
    return f"{base_octet}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def shuffled(rng, items):
    """Fisher-Yates with rng.random() only (stable across Python versions)."""
    items = list(items)
    for i in range(len(items) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        items[i], items[j] = items[j], items[i]
    return items


def write_lines(path, lines):
    with open(path, "w", encoding="ascii") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def endpoint_slice(ns, name, service, port, endpoints):
    """An IPv4 EndpointSlice of `service` (not managed by the emulator's mirroring) with one
    named port `http`."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "kube-dns-rs-bench"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
    }


# --------------------------------------------------------------------------------------------
# hosts


def cmd_hosts(a):
    names = [f"h{i}.bench.test" for i in range(a.n)]
    write_lines(os.path.join(a.out, "hosts-queries.txt"), [f"{n} A" for n in names])
    write_lines(
        os.path.join(a.out, "hosts-upstream.conf"),
        [f"host-record={n},{ip4(10, i)}" for i, n in enumerate(names)],
    )


# --------------------------------------------------------------------------------------------
# auth


def headless_size(rng):
    """Endpoints of one headless Service: 1..100, heavy-tailed (most small, a few large)."""
    u = rng.random()
    return max(1, min(100, int(1.0 / (1.0 - u * 0.99))))


def auth_services(rng, a, cluster_ip):
    """The realistic cluster of scenario 3: (ns, name, cluster_ip or None, [endpoint ips]);
    `cluster_ip(i)` is the address of Service i when it is not headless."""
    namespaces = [f"ns{i}" for i in range(a.namespaces)]
    services = []
    ep_counter = 0
    for i in range(a.services):
        ns = namespaces[i % len(namespaces)]
        name = f"svc{i}"
        if rng.random() < a.headless_frac:
            n = headless_size(rng)
            eps = [ip4(11, ep_counter + k) for k in range(n)]
            ep_counter += n
            services.append((ns, name, None, eps))
        else:
            services.append((ns, name, cluster_ip(i), []))
    return namespaces, services


def realistic_mix(rng, services, namespaces, count):
    """The scenario-3 query mix over `services` (see cmd_auth), `count` queries."""
    cluster = [s for s in services if s[2]]
    headless = [s for s in services if not s[2]]
    externals = ["www.example.com", "api.github.com", "s3.amazonaws.com", "db.internal.corp",
                 "metrics.example.org", "login.microsoftonline.com"]

    def pick(lst):
        return lst[int(rng.random() * len(lst))]

    def fq(s):
        return f"{s[1]}.{s[0]}.svc.{DOMAIN}"

    def rev(ip):
        return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"

    # One "lookup" expands to the queries a glibc resolver with ndots:5 and search
    # <ns>.svc.cluster.local svc.cluster.local cluster.local sends to the cluster DNS.
    # Weights are per lookup; a storm lookup expands to 6 (external) or 4 (cross-namespace)
    # queries, so about 45 % of the final mix are NXDOMAIN search-path queries
    # (printed below; see README).
    kinds = [
        (0.25, "clusterip-a"), (0.05, "clusterip-aaaa"), (0.10, "headless-a"),
        (0.10, "srv"), (0.10, "ptr"), (0.08, "storm-external"), (0.07, "storm-crossns"),
    ]
    cum = []
    t = 0.0
    for w, k in kinds:
        t += w
        cum.append((t, k))
    lines = []
    while len(lines) < count:
        u = rng.random() * t
        kind = next(k for c, k in cum if u <= c)
        if kind == "clusterip-a":
            lines.append(f"{fq(pick(cluster))} A")
        elif kind == "clusterip-aaaa":
            lines.append(f"{fq(pick(cluster))} AAAA")
        elif kind == "headless-a":
            lines.append(f"{fq(pick(headless))} A")
        elif kind == "srv":
            lines.append(f"_http._tcp.{fq(pick(cluster))} SRV")
        elif kind == "ptr":
            lines.append(f"{rev(pick(cluster)[2])} PTR")
        elif kind == "storm-external":
            # "www.example.com" from a pod in <client_ns>: 3 search suffixes x (A, AAAA), all
            # NXDOMAIN; the final absolute query leaves the cluster domain (not sent here).
            client_ns = pick(namespaces)
            ext = pick(externals)
            for suffix in (f"{client_ns}.svc.{DOMAIN}", f"svc.{DOMAIN}", DOMAIN):
                lines.append(f"{ext}.{suffix} A")
                lines.append(f"{ext}.{suffix} AAAA")
        else:
            # "svcN.nsK" from a pod in another namespace: first suffix NXDOMAIN, second hits.
            s = pick(cluster)
            client_ns = pick([n for n in namespaces if n != s[0]] or namespaces)
            short = f"{s[1]}.{s[0]}"
            lines.append(f"{short}.{client_ns}.svc.{DOMAIN} A")
            lines.append(f"{short}.{client_ns}.svc.{DOMAIN} AAAA")
            lines.append(f"{short}.svc.{DOMAIN} A")
            lines.append(f"{short}.svc.{DOMAIN} AAAA")
    return lines[:count]


def cmd_auth(a):
    rng = random.Random(a.seed)
    namespaces, services = auth_services(rng, a, lambda i: f"10.96.{(i >> 8) & 255}.{i & 255}")

    # Emulator objects (Services + EndpointSlices for headless Services).
    items = []
    for ns, name, cip, eps in services:
        spec = {"type": "ClusterIP", "clusterIP": cip or "None",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
        items.append({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": name, "namespace": ns}, "spec": spec})
        if eps:
            items.append(endpoint_slice(ns, f"{name}-bench", name, 8080,
                                        [{"addresses": [ip], "conditions": {"ready": True}} for ip in eps]))
    with open(os.path.join(a.out, "auth-objects.json"), "w", encoding="ascii") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)

    # The same records for dnsmasq. host-record also creates the PTR of each address; for
    # headless Services that adds PTRs kubedns does not serve, which no query asks for.
    conf = [f"local=/{DOMAIN}/"]
    for ns, name, cip, eps in services:
        fq = f"{name}.{ns}.svc.{DOMAIN}"
        if cip:
            conf.append(f"host-record={fq},{cip}")
            conf.append(f"srv-host=_http._tcp.{fq},{fq},80,10,100")
        else:
            conf.extend(f"host-record={fq},{ip}" for ip in eps)
    write_lines(os.path.join(a.out, "auth-dnsmasq.conf"), conf)

    lines = realistic_mix(rng, services, namespaces, a.queries)
    write_lines(os.path.join(a.out, "auth-queries.txt"), lines)
    # Variant without SRV: dnsmasq scans its srv-host list linearly on every query, so this
    # pair isolates its host-record path (see README, scenario 3).
    write_lines(os.path.join(a.out, "auth-queries-nosrv.txt"), [q for q in lines if not q.endswith(" SRV")])
    write_lines(os.path.join(a.out, "auth-dnsmasq-nosrv.conf"), [c for c in conf if not c.startswith("srv-host=")])
    # Answer-diff sample: every kind, deterministic.
    sample = sorted(set(lines[:: max(1, len(lines) // a.check)]))
    write_lines(os.path.join(a.out, "auth-check.txt"), sample)
    n_eps = sum(len(s[3]) for s in services)
    cluster = [s for s in services if s[2]]
    headless = [s for s in services if not s[2]]
    known = {f"{s[1]}.{s[0]}.svc.{DOMAIN}" for s in services}
    storm = sum(1 for q in lines if q.split()[0] not in known and not q.startswith("_")
                and not q.endswith("PTR"))
    print(f"auth: {len(services)} services ({len(cluster)} ClusterIP, {len(headless)} headless, "
          f"{n_eps} endpoints, largest {max(len(s[3]) for s in services)}), {len(lines)} queries "
          f"({100.0 * storm / len(lines):.0f} % NXDOMAIN search-path queries), {len(sample)} diff samples")


# --------------------------------------------------------------------------------------------
# k8s


def k8s_objects(services):
    """Namespaces, selectorless Services (port `http` 80, for SRV) and, for headless ones,
    a v1 Endpoints and a discovery/v1 EndpointSlice holding the same addresses."""
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
             for ns in sorted({s[0] for s in services})]
    port = {"name": "http", "port": 8080, "protocol": "TCP"}
    for ns, name, cip, eps in services:
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                      "spec": {"type": "ClusterIP", "clusterIP": cip or "None",
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})
        if eps:
            items.append({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
                          "subsets": [{"addresses": [{"ip": ip} for ip in eps], "ports": [port]}]})
            items.append(endpoint_slice(ns, f"{name}-0", name, 8080,
                                        [{"addresses": [ip], "conditions": {"ready": True, "serving": True,
                                                                            "terminating": False}}
                                         for ip in eps]))
    return items


def cmd_k8s(a):
    """Scenario auth-k8s: one cluster for the real control plane = the scenario-3 cluster
    (ClusterIPs moved into 10.0.0.0/16) + `big` more Services; two query sets over it."""
    rng = random.Random(a.seed)
    # ClusterIP i -> 10.0.0.0/16 + 16 + i (10.0.0.1 is the kubernetes Service).
    def k8s_ip(i):
        n = 16 + i
        return f"10.0.{(n >> 8) & 255}.{n & 255}"
    namespaces, services = auth_services(rng, a, k8s_ip)
    mix = realistic_mix(rng, services, namespaces, a.queries)
    # The big part: Services f<j> in namespaces big<k>, 20 % headless with 1-3 endpoints.
    big_ns = [f"big{k}" for k in range(a.big_namespaces)]
    ep = 0
    for j in range(a.big):
        ns = big_ns[j % len(big_ns)]
        if rng.random() < 0.2:
            n = 1 + int(rng.random() * 3)
            services.append((ns, f"f{j}", None, [ip4(12, ep + k) for k in range(n)]))
            ep += n
        else:
            services.append((ns, f"f{j}", k8s_ip(a.services + j), []))
    if 16 + a.services + a.big > 65534:
        raise SystemExit("k8s: more ClusterIP Services than 10.0.0.0/16 holds")
    with open(os.path.join(a.out, "k8s-objects.json"), "w", encoding="ascii") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": k8s_objects(services)}, f)

    # The same records for dnsmasq (as in cmd_auth).
    conf = [f"local=/{DOMAIN}/"]
    hosts = 0
    for ns, name, cip, eps in services:
        fq = f"{name}.{ns}.svc.{DOMAIN}"
        if cip:
            conf.append(f"host-record={fq},{cip}")
            conf.append(f"srv-host=_http._tcp.{fq},{fq},80,10,100")
            hosts += 1
        else:
            conf.extend(f"host-record={fq},{ip}" for ip in eps)
            hosts += len(eps)
    write_lines(os.path.join(a.out, "k8s-dnsmasq.conf"), conf)
    write_lines(os.path.join(a.out, "k8s-dnsmasq-nosrv.conf"), [c for c in conf if not c.startswith("srv-host=")])
    # dnsmasq sizes its hash table from --cache-size: at least one slot per record (A + PTR).
    with open(os.path.join(a.out, "k8s-dnsmasq-cache-size"), "w", encoding="ascii") as f:
        f.write(f"{2 * hosts}\n")

    # Set 1: the realistic mix (within reply caches).
    write_lines(os.path.join(a.out, "k8s-mix.txt"), mix)
    write_lines(os.path.join(a.out, "k8s-mix-nosrv.txt"), [q for q in mix if not q.endswith(" SRV")])
    # Set 2: every name once -- each ClusterIP Service's A, SRV and PTR (and AAAA for a tenth),
    # each headless Service's A, and `missing` names that do not exist -- shuffled.
    big = []
    for ns, name, cip, eps in services:
        fq = f"{name}.{ns}.svc.{DOMAIN}"
        big.append(f"{fq} A")
        if cip:
            big.append(f"_http._tcp.{fq} SRV")
            big.append(".".join(reversed(cip.split("."))) + ".in-addr.arpa PTR")
            if rng.random() < 0.1:
                big.append(f"{fq} AAAA")
    all_ns = namespaces + big_ns
    for m in range(a.missing):
        big.append(f"gone{m}.{all_ns[m % len(all_ns)]}.svc.{DOMAIN} {'A' if m % 2 else 'AAAA'}")
    big = shuffled(rng, big)
    write_lines(os.path.join(a.out, "k8s-big.txt"), big)
    write_lines(os.path.join(a.out, "k8s-big-nosrv.txt"), [q for q in big if not q.endswith(" SRV")])
    # Answer-diff sample: deterministic slices of both sets.
    sample = sorted(set(mix[:: max(1, len(mix) // a.check)]) | set(big[:: max(1, len(big) // a.check)]))
    write_lines(os.path.join(a.out, "k8s-check.txt"), sample)
    n_eps = sum(len(s[3]) for s in services)
    print(f"k8s: {len(services)} Services ({sum(1 for s in services if s[2])} ClusterIP, {n_eps} endpoints), "
          f"mix {len(mix)} queries / {len(set(mix))} distinct, big {len(big)} distinct questions "
          f"({a.missing} nonexistent), {len(sample)} diff samples, dnsmasq cache-size {2 * hosts}")
    with open(os.path.join(a.out, "k8s-stats"), "w", encoding="ascii") as f:
        f.write(f"services {len(services)}\nendpoints {n_eps}\nmix_queries {len(mix)}\n"
                f"mix_distinct {len(set(mix))}\nbig_distinct {len(big)}\n")


# --------------------------------------------------------------------------------------------
# zipf


def cmd_zipf(a):
    rng = random.Random(a.seed)
    names = [f"z{i}.zipf.test" for i in range(a.names)]
    ttls = [a.ttl_min + int(rng.random() * (a.ttl_max - a.ttl_min + 1)) for _ in names]
    write_lines(
        os.path.join(a.out, "zipf-upstream.conf"),
        [f"host-record={n},{ip4(10, i)},{ttl}" for i, (n, ttl) in enumerate(zip(names, ttls))],
    )
    # Popularity rank -> name is a random permutation, so TTL and popularity are independent.
    order = shuffled(rng, range(a.names))
    cdf = []
    acc = 0.0
    for k in range(1, a.names + 1):
        acc += 1.0 / (k ** a.s)
        cdf.append(acc)
    total = acc
    with open(os.path.join(a.out, "zipf-queries.txt"), "w", encoding="ascii") as f:
        for _ in range(a.queries):
            r = bisect.bisect_left(cdf, rng.random() * total)
            f.write(names[order[min(r, a.names - 1)]])
            f.write(" A\n")
    print(f"zipf: {a.names} names, TTL {a.ttl_min}-{a.ttl_max} s, s={a.s}, {a.queries} queries")


# --------------------------------------------------------------------------------------------
# large


def cmd_large(a):
    ns = "large"
    sizes = [int(x) for x in a.sizes.split(",")]
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    conf = [f"local=/{DOMAIN}/"]
    check = []
    base = 0
    for n in sizes:
        name = f"big{n}"
        fq = f"{name}.{ns}.svc.{DOMAIN}"
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                      "spec": {"type": "ClusterIP", "clusterIP": "None",
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        eps = [(f"h{i}", ip4(12, base + i)) for i in range(n)]
        base += n
        for k in range(0, n, 1000):  # EndpointSlices hold at most 1000 endpoints
            items.append(endpoint_slice(ns, f"{name}-{k // 1000}", name, 80,
                                        [{"addresses": [ip], "hostname": h, "conditions": {"ready": True}}
                                         for h, ip in eps[k:k + 1000]]))
        conf.extend(f"host-record={fq},{ip}" for _, ip in eps)
        conf.extend(f"host-record={h}.{fq},{ip}" for h, ip in eps)
        write_lines(os.path.join(a.out, f"large-queries-{n}.txt"), [f"{fq} A"])
        check.extend([f"h0.{fq} A", f"h{n - 1}.{fq} A", f"h{n}.{fq} A"])
        if n * 16 < 65535 - 512:  # the whole set fits in one TCP message (16 bytes per A)
            check.append(f"{fq} A")
    with open(os.path.join(a.out, "large-objects.json"), "w", encoding="ascii") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
    write_lines(os.path.join(a.out, "large-dnsmasq.conf"), conf)
    write_lines(os.path.join(a.out, "large-check.txt"), check)
    print(f"large: headless Services with {', '.join(map(str, sizes))} endpoints")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hosts")
    h.add_argument("--out", required=True)
    h.add_argument("--n", type=int, default=1000)
    au = sub.add_parser("auth")
    au.add_argument("--out", required=True)
    au.add_argument("--namespaces", type=int, default=10)
    au.add_argument("--services", type=int, default=1000)
    au.add_argument("--headless-frac", type=float, default=0.3)
    au.add_argument("--queries", type=int, default=50000)
    au.add_argument("--check", type=int, default=60)
    au.add_argument("--seed", type=int, default=7)
    k8 = sub.add_parser("k8s")
    k8.add_argument("--out", required=True)
    k8.add_argument("--namespaces", type=int, default=10)
    k8.add_argument("--services", type=int, default=1000)
    k8.add_argument("--headless-frac", type=float, default=0.3)
    k8.add_argument("--queries", type=int, default=50000)
    k8.add_argument("--big", type=int, default=15000, help="Services beyond the realistic cluster")
    k8.add_argument("--big-namespaces", type=int, default=100)
    k8.add_argument("--missing", type=int, default=10000, help="nonexistent names in the big set")
    k8.add_argument("--check", type=int, default=60)
    k8.add_argument("--seed", type=int, default=7)
    z = sub.add_parser("zipf")
    z.add_argument("--out", required=True)
    z.add_argument("--names", type=int, default=100000)
    z.add_argument("--queries", type=int, default=600000)
    z.add_argument("--s", type=float, default=1.0)
    z.add_argument("--ttl-min", type=int, default=5)
    z.add_argument("--ttl-max", type=int, default=300)
    z.add_argument("--seed", type=int, default=5)
    lg = sub.add_parser("large")
    lg.add_argument("--out", required=True)
    lg.add_argument("--sizes", default="1000,5000")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    {"hosts": cmd_hosts, "auth": cmd_auth, "k8s": cmd_k8s, "zipf": cmd_zipf, "large": cmd_large}[a.cmd](a)


if __name__ == "__main__":
    main()
