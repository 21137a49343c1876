//! Single values checked beyond their flag kind: the `--kube-master-url` (Go `url.Parse`
//! rules), the `--domain` (DNS-1123 labels) and the `PROMETHEUS_*` environment variables.

use std::collections::HashMap;

use super::go::expand_env;
use super::options::{CliError, PrometheusOptions};
use super::scan::invalid;
use crate::config::validate::ValidationError;

/// (Go `url.Parse` + `u.Scheme != "" && u.Host != ""`).
pub fn validate_master_url(raw: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let expanded = expand_env(raw, env);
    let Some((scheme, rest)) = expanded.split_once("://") else {
        return Err("URL must have scheme and host".into());
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if !scheme_ok || host.is_empty() || host == ":" {
        return Err("URL must have scheme and host".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("invalid character in host".into());
    }
    Ok(expanded)
}

/// Legacy `--domain` handling: strip one trailing dot, every label must be a lowercase DNS-1123
/// label, then append the dot.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    if trimmed.is_empty() {
        return Err("domain must not be empty".into());
    }
    for label in trimmed.split('.') {
        if !crate::config::validate::is_dns1123_label(label) {
            return Err(format!("label {label:?} is not a valid DNS-1123 label"));
        }
    }
    Ok(format!("{trimmed}."))
}

fn env_var<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

pub(super) fn prometheus_from_env(
    env: &HashMap<String, String>,
) -> Result<Option<PrometheusOptions>, CliError> {
    let Some(port) = env_var(env, "PROMETHEUS_PORT") else {
        return Ok(None);
    };
    let port = port
        .trim()
        .parse::<u16>()
        .map_err(|e| CliError::InvalidEnv {
            name: "PROMETHEUS_PORT".into(),
            value: port.into(),
            reason: e.to_string(),
        })?;
    let mut path = env_var(env, "PROMETHEUS_PATH")
        .unwrap_or("/metrics")
        .to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    Ok(Some(PrometheusOptions {
        port,
        path,
        namespace: env_var(env, "PROMETHEUS_NAMESPACE")
            .unwrap_or("skydns")
            .to_string(),
        subsystem: env_var(env, "PROMETHEUS_SUBSYSTEM")
            .unwrap_or("skydns")
            .to_string(),
    }))
}

pub(super) fn validation(
    flag: &'static str,
    value: &str,
) -> impl FnOnce(ValidationError) -> CliError {
    let value = value.to_string();
    move |e| invalid(flag, &value, e.to_string())
}
