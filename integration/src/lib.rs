//! kube-dns-rs integration support: a Kubernetes API emulator ([`emulator`]) for what a real
//! server cannot do on demand (faults), a launcher for the real control plane built from
//! source ([`controlplane`]), an end-to-end harness that runs the real binaries against
//! either ([`harness`]), and the `sandbox` and `kube-apiserver-emulator` binaries.

pub mod controlplane;
pub mod emulator;
pub mod harness;
