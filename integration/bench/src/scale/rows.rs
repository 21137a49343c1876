//! Result rows: the printed summary, the long-format CSV (`scenario,server,metric,value,unit`)
//! (percentiles are `crate::measure::percentile`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

pub(super) use crate::measure::percentile;

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
