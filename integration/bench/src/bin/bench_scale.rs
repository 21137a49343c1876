//! `bench_scale`: scenario 6 of the benchmark suite (`integration/bench/run.sh scale`): kubedns
//! against a large cluster in the in-process API emulator. The scenario, its measurements
//! and its output are documented in `bench::scale` (`integration/bench/src/scale.rs`); this
//! binary only parses the command line and runs it.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serverkit::logging::init("warn", None);
    let args = bench::scale::Args::parse();
    bench::scale::run(args).await
}
