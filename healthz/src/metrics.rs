//! Prometheus text exposition (format 0.0.4) for the sidecar's legacy metric names.
//!
//! Hand-rolled on purpose: the legacy Go client exported counters *without* the
//! `_total` suffix (`kubedns_dnsmasq_hits`), which OpenMetrics-style encoders add
//! unconditionally. Dashboards and alerts key on the legacy names.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.inc_by(1);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Cumulative histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    inner: Mutex<HistInner>,
}

#[derive(Debug, Default, Clone)]
struct HistInner {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Snapshot of a histogram: per-bucket cumulative counts, sum, count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// `start·factor^k` for k in `0..n` (Go `prometheus.ExponentialBuckets`).
pub fn exponential_buckets(start: f64, factor: f64, n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n);
    let mut b = start;
    for _ in 0..n {
        v.push(b);
        b *= factor;
    }
    v
}

impl Histogram {
    /// New histogram with the given ascending bucket bounds (`+Inf` is implicit).
    pub fn new(bounds: Vec<f64>) -> Self {
        let n = bounds.len();
        Self {
            bounds,
            inner: Mutex::new(HistInner {
                counts: vec![0; n],
                ..HistInner::default()
            }),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                g.counts[i] += 1;
            }
        }
        g.sum += v;
        g.count += 1;
    }

    /// Consistent snapshot.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        HistogramSnapshot {
            buckets: self.bounds.iter().copied().zip(g.counts).collect(),
            sum: g.sum,
            count: g.count,
        }
    }
}

/// Go `prometheus.BuildFQName`: joins the non-empty parts with `_`.
pub fn fq_name(namespace: &str, subsystem: &str, name: &str) -> String {
    [namespace, subsystem, name]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("_")
}

/// True if `s` is a valid metric-name prefix (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or empty.
pub fn valid_namespace(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        None => true,
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        Some(_) => false,
    }
}

fn fmt_value(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// Appends a counter family.
pub fn encode_counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

/// Appends a gauge family.
pub fn encode_gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {}", fmt_value(value));
}

/// Appends a histogram family (`_bucket{le=…}`, `_sum`, `_count`).
pub fn encode_histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (bound, count) in &h.buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {count}", fmt_value(*bound));
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", fmt_value(h.sum));
    let _ = writeln!(out, "{name}_count {}", h.count);
}

/// Appends `process_*` metrics read from `/proc/self` (Linux); silently skipped elsewhere.
pub fn encode_process_metrics(out: &mut String) {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        };
        if let Some(rss) = kb("VmRSS:") {
            encode_gauge(
                out,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss * 1024.0,
            );
        }
        if let Some(vsz) = kb("VmSize:") {
            encode_gauge(
                out,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                vsz * 1024.0,
            );
        }
    }
    if let Some((cpu, start)) = proc_stat_times() {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
        );
        let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
        let _ = writeln!(out, "process_cpu_seconds_total {}", fmt_value(cpu));
        encode_gauge(
            out,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            start,
        );
    }
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        encode_gauge(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            rd.count() as f64,
        );
    }
}

/// `/proc` times are in USER_HZ, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

/// (CPU seconds used, start time in Unix seconds) from `/proc/self/stat` and `/proc/stat`.
fn proc_stat_times() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name (which may contain spaces).
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime=14, stime=15, starttime=22 → indices 11, 12, 19.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let start_ticks: f64 = f.get(19)?.parse().ok()?;
    let btime: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(((utime + stime) / USER_HZ, btime + start_ticks / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_legacy() {
        let b = exponential_buckets(0.25, 2.0, 16);
        assert_eq!(b.len(), 16);
        assert_eq!(b[0], 0.25);
        assert_eq!(b[15], 8192.0);
    }

    #[test]
    fn histogram_text() {
        let h = Histogram::new(vec![1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(5.0);
        let mut s = String::new();
        encode_histogram(&mut s, "x_latency_ms", "help", &h.snapshot());
        assert!(s.contains("# TYPE x_latency_ms histogram\n"));
        assert!(s.contains("x_latency_ms_bucket{le=\"1\"} 1\n"));
        assert!(s.contains("x_latency_ms_bucket{le=\"2\"} 2\n"));
        assert!(s.contains("x_latency_ms_bucket{le=\"+Inf\"} 3\n"));
        assert!(s.contains("x_latency_ms_sum 7\n"));
        assert!(s.contains("x_latency_ms_count 3\n"));
    }

    #[test]
    fn process_metrics_on_linux() {
        let mut s = String::new();
        encode_process_metrics(&mut s);
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(s.contains("process_resident_memory_bytes "));
            assert!(s.contains("process_cpu_seconds_total "));
            let start = s
                .lines()
                .find_map(|l| l.strip_prefix("process_start_time_seconds "))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap();
            assert!(start > 1.0e9, "{start}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            fq_name("kubedns", "dnsmasq", "hits"),
            "kubedns_dnsmasq_hits"
        );
        assert_eq!(fq_name("", "dnsmasq", "hits"), "dnsmasq_hits");
        assert!(valid_namespace("kubedns"));
        assert!(valid_namespace(""));
        assert!(!valid_namespace("kube-dns"));
        assert!(!valid_namespace("1abc"));
        let mut s = String::new();
        encode_counter(&mut s, "kubedns_dnsmasq_hits", "h", 3);
        assert_eq!(
            s,
            "# HELP kubedns_dnsmasq_hits h\n# TYPE kubedns_dnsmasq_hits counter\nkubedns_dnsmasq_hits 3\n"
        );
    }
}
