//! The emulator's own constants that every handler module shares: the URL prefix of its admin
//! (fault injection) API and the Kubernetes minor version it reports (discovery, OpenAPI).

/// Prefix of the admin paths (never subject to faults or auth).
pub const ADMIN_PREFIX: &str = "/_emulator";

/// Kubernetes minor version reported by `/version` unless configured
/// ([`crate::EmulatorConfig::minor`]).
pub const EMULATED_MINOR: &str = "33";
