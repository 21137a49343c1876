//! Result rows: the printed summary, the long-format CSV (`scenario,server,metric,value,unit`)
//! and nearest-rank percentiles.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

/// Percentile (nearest rank) of sorted samples.
pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Collected result rows.
#[derive(Default)]
pub(super) struct Rows {
    pub(super) rows: Vec<(String, f64, &'static str)>,
    pub(super) prefix: &'static str,
}

impl Rows {
    pub(super) fn add(&mut self, metric: &str, value: f64, unit: &'static str) {
        let metric = format!("{}{metric}", self.prefix);
        println!("  {metric:<48} {value:>12.3} {unit}");
        self.rows.push((metric, value, unit));
    }

    pub(super) fn write_csv(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = String::new();
        for (m, v, u) in &self.rows {
            let _ = writeln!(out, "scale,kubedns,{m},{v},{u}");
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        f.write_all(out.as_bytes())?;
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
}
