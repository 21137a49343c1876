//! kube-dns-rs benchmark tools (issue 16): the Kubernetes side of `integration/bench/run.sh`.
//!
//! * [`loader`] — fills a real kube-apiserver fast: bounded concurrent server-side creates.
//! * [`servers`] — starts kubedns, CoreDNS (`kubernetes` plugin, the migration Corefile and
//!   its cache variants) and legacy kube-dns against a kubeconfig, pinned to a CPU, and waits
//!   for each one's readiness endpoint.
//! * [`k8s_scale`] — the `scale-k8s` scenario: time to ready, memory and event → answer
//!   latency of the three servers against 10k Services / 100k endpoints in the real API.
//! * [`measure`] — `/proc` readings, percentiles and the CSV rows `run.sh` collects.
//! * [`scale`] — the `scale` scenario: kubedns against a large cluster in the in-process API
//!   emulator (time to ready, memory, forced relist, programming latency, CPU per query).
//!
//! Binaries: `bench_scale` (scenario `scale`, the API emulator) and `bench_k8s` (`up`: a
//! loaded control plane held for `run.sh`'s `auth-k8s` scenario; `scale`; `corefile`).

pub mod k8s_scale;
pub mod loader;
pub mod measure;
pub mod scale;
pub mod servers;
