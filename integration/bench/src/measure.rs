//! Measurements shared by the Kubernetes-side benchmarks: `/proc/<pid>/status` fields, CPU
//! ticks and their unit, nearest-rank percentiles, pinning processes to a CPU, and the CSV rows
//! (`scenario,server,metric,value,unit`) that `run.sh` hands to `lib/report.py`.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, bail};

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Linux `USER_HZ` (the unit of utime/stime in `/proc/<pid>/stat`) when `getconf` fails.
pub const DEFAULT_CLK_TCK: f64 = 100.0;

/// utime+stime of `pid` in clock ticks (fields 14 and 15 of stat(5)).
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc/pid/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3.
    let utime: u64 = f.get(11).and_then(|v| v.parse().ok()).context("utime")?;
    let stime: u64 = f.get(12).and_then(|v| v.parse().ok()).context("stime")?;
    Ok(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`, else [`DEFAULT_CLK_TCK`]).
pub fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(DEFAULT_CLK_TCK)
}

/// KiB → MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Nearest-rank percentile `p` (0–100] of ascending `sorted`; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The direct children of this process (from `/proc/*/stat`), as (pid, command name).
pub fn children() -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_string();
        // stat(5): field 3 is the state, field 4 the parent pid.
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == me).then_some((pid, comm))
    })
    .collect()
}

/// Pins every thread of `pid` to `cpu` (`taskset -a -p -c`).
pub fn pin(pid: u32, cpu: u32) -> anyhow::Result<()> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .context("running taskset")?;
    if !out.status.success() {
        bail!(
            "taskset -a -p -c {cpu} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Rows of one scenario, printed as they are added and appended to `run.sh`'s CSV.
#[derive(Debug)]
pub struct Rows {
    scenario: String,
    metric_prefix: String,
    rows: Vec<(String, String, f64, &'static str)>,
}

impl Rows {
    /// Rows of `scenario`.
    pub fn new(scenario: &str) -> Self {
        Rows {
            scenario: scenario.to_string(),
            metric_prefix: String::new(),
            rows: Vec::new(),
        }
    }

    /// Prefixes the metric names of the rows added from now on (e.g. `endpoints_source.` for
    /// the second pass of `bench_scale`).
    pub fn set_metric_prefix(&mut self, prefix: &str) {
        self.metric_prefix = prefix.to_string();
    }

    /// One measurement of `server`.
    pub fn add(&mut self, server: &str, metric: &str, value: f64, unit: &'static str) {
        let metric = format!("{}{metric}", self.metric_prefix);
        println!("  {server:<20} {metric:<32} {value:>12.3} {unit}");
        self.rows.push((server.to_string(), metric, value, unit));
    }

    /// Appends `scenario,server,metric,value,unit` lines to `path`.
    pub fn append_csv(&self, path: &Path) -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        for (server, metric, value, unit) in &self.rows {
            if server.contains(',') || metric.contains(',') {
                bail!("a row label contains a comma: {server} / {metric}");
            }
            writeln!(f, "{},{server},{metric},{value},{unit}", self.scenario)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn own_status_has_rss_and_cpu_ticks() {
        assert!(status_kib(std::process::id(), "VmRSS").unwrap() > 0);
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            std::hint::black_box(spin.elapsed());
        }
        assert!(cpu_ticks(std::process::id()).unwrap() > 0);
        assert!(clk_tck() > 0.0);
        assert!(status_kib(std::process::id(), "NoSuchField").is_err());
    }
}
