//! kube-dns-rs integration support: a launcher for the real control plane built from source
//! ([`controlplane`]), an end-to-end harness that runs the real binaries against it or the
//! API emulator (the `kube-emulator` crate, for what a real server cannot do on demand:
//! faults) ([`harness`]), and the `sandbox` and `bench_scale` binaries.

pub mod controlplane;
pub mod harness;
