//! End-to-end harness: runs the workspace's real binaries (`kubedns`, `dnsmasq-rs`,
//! `healthz`) on ephemeral loopback ports against an in-process [`kube_emulator`], waits
//! for readiness, queries them over UDP/TCP, mutates cluster objects and waits for answers
//! to change, injects faults, and kills every child on drop (also when a test panics, and —
//! via `PR_SET_PDEATHSIG` — when the test process itself dies).
//!
//! Module map: [`bins`] (locating binaries), [`ports`] (free ports), [`process`] (children,
//! logs, kill-on-drop), [`dns`] (DNS client), [`wait`] (readiness and polling),
//! [`objects`] (cluster object helpers), [`realistic`] and [`scale`] (large clusters shaped as
//! a real one serves them), [`stack`] (the whole kube-dns pod), [`signals`].

pub mod bins;
pub mod dns;
pub mod objects;
pub mod ports;
pub mod process;
pub mod realistic;
pub mod scale;
pub mod signals;
pub mod stack;
pub mod wait;

pub use bins::{BinaryNotFound, binary_path};
pub use dns::{DnsClient, Transport};
pub use process::{ChildProcess, ProcessSpec};
pub use stack::{ExternalApi, Stack, StackOptions};
