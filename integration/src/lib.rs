//! kube-dns-rs integration support: a Kubernetes API emulator ([`emulator`]), an end-to-end
//! harness that runs the real binaries against it ([`harness`]), and the `sandbox` and
//! `kube-apiserver-emulator` binaries built on both.

pub mod emulator;
pub mod harness;
