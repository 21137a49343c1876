//! The library shared by the kube-dns-rs binaries (`kubedns`, `dnsmasq-rs`, `healthz`) and
//! the integration harness.
//!
//! Today it holds only test support: behind the `test-support` cargo feature, [`require`]
//! decides whether a test whose external requirements (a tool, root, network namespaces, a
//! built binary) are missing is skipped (outside CI) or fails (under CI).

#[cfg(feature = "test-support")]
pub mod require;
