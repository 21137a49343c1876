//! The `bench_scale` command line: sizes, endpoint sources, phases and their rates,
//! CPU pinning, output.

use std::path::PathBuf;

use clap::Parser;
use integration::harness::scale::{self, Shape};

/// Endpoint source kubedns is run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// `--endpoint-source=endpointslices`.
    Endpointslices,
    /// `--endpoint-source=endpoints`.
    Endpoints,
}

impl Source {
    pub(super) fn flag(self) -> &'static str {
        match self {
            Source::Endpointslices => "endpointslices",
            Source::Endpoints => "endpoints",
        }
    }

    /// Metric name prefix (none for EndpointSlices, the default source, so existing reports
    /// keep their names).
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Source::Endpointslices => "",
            Source::Endpoints => "endpoints_source.",
        }
    }
}

/// Command line of `bench_scale`.
#[derive(Debug, Parser)]
#[command(about = "kube-dns-rs scale benchmark: kubedns fed by the in-process API emulator")]
pub struct Args {
    /// kubedns binary (default: `kubedns` next to this binary).
    #[arg(long)]
    pub(super) kubedns: Option<PathBuf>,
    /// dnsperf binary.
    #[arg(long, default_value = "dnsperf")]
    pub(super) dnsperf: PathBuf,
    /// Number of Services.
    #[arg(long, default_value_t = 10_000)]
    pub(super) services: usize,
    /// Number of endpoints (addresses) over all Services.
    #[arg(long, default_value_t = 100_000)]
    pub(super) endpoints: usize,
    /// Namespaces the Services are spread over.
    #[arg(long, default_value_t = 100)]
    pub(super) namespaces: usize,
    /// Object shape: as a real cluster serves them, or only the fields kube-dns reads.
    #[arg(long, value_enum, default_value_t = Shape::Realistic)]
    pub(super) objects: Shape,
    /// Endpoint sources to measure (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "endpointslices,endpoints"
    )]
    pub(super) endpoint_source: Vec<Source>,
    /// Emulated Kubernetes minor version: below 33 a `resourceVersion=0` list is served
    /// unpaginated, as by a real watch cache.
    #[arg(long, default_value_t = scale::UNPAGINATED_MINOR)]
    pub(super) minor: u32,
    /// Let the emulator serve watch-list (`sendInitialEvents`), so kubedns streams its initial
    /// state instead of LISTing it.
    #[arg(long)]
    pub(super) watch_list: bool,
    /// Skip the forced relist.
    #[arg(long)]
    pub(super) skip_relist: bool,
    /// Update rates (updates/s) of the programming-latency phases (comma-separated; empty
    /// to skip).
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub(super) latency_rates: Vec<u32>,
    /// Seconds of each programming-latency phase.
    #[arg(long, default_value_t = 10)]
    pub(super) latency_secs: u64,
    /// Skip the dnsperf CPU phases.
    #[arg(long)]
    pub(super) skip_load: bool,
    /// Endpoint updates per second during the dnsperf phase with updates.
    #[arg(long, default_value_t = 100)]
    pub(super) update_rate: u32,
    /// Seconds of each dnsperf phase (queries alone, queries with updates, updates alone).
    #[arg(long, default_value_t = 20)]
    pub(super) phase_secs: u64,
    /// dnsperf rate (queries per second) during both load phases; 0 = saturation
    /// (`-c 10 -q 200`, as scenario 3, so CPU per query is comparable).
    #[arg(long, default_value_t = 0)]
    pub(super) load_qps: u32,
    /// CPU kubedns is pinned to.
    #[arg(long, default_value_t = 0)]
    pub(super) server_cpu: u32,
    /// CPU dnsperf is pinned to (run this binary on the same CPU).
    #[arg(long, default_value_t = 1)]
    pub(super) client_cpu: u32,
    /// Give up when kubedns is not ready after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub(super) ready_timeout_secs: u64,
    /// Directory for logs and the query file (default: a temporary directory).
    #[arg(long)]
    pub(super) work: Option<PathBuf>,
    /// Append `scenario,server,metric,value,unit` rows to this CSV.
    #[arg(long)]
    pub(super) csv: Option<PathBuf>,
}
