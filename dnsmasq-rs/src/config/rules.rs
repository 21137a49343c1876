//! dnsmasq's server selection rules: the `--server`/`--local`/`--address` value syntax
//! (`/dom/[dom/…]ip[#port]`, `/dom/#`, `/dom/`) and what a matching domain does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::{ConfigError, DEFAULT_PORT, bad};

/// What a matching domain rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Forward to these servers.
    Forward(Vec<SocketAddr>),
    /// `--server=/dom/#`: use the default servers for this domain.
    UseDefault,
    /// `--server=/dom/`, `--local=/dom/`, `--address=/dom/`: answer locally (NXDOMAIN).
    Local,
    /// `--address=/dom/ip`: answer with these addresses.
    Address(Vec<IpAddr>),
}

/// Where a query name goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Forward(&'a [SocketAddr]),
    Local,
    Address(&'a [IpAddr]),
}

/// Parses a server address: `ip`, `ip#port`, `[v6]`, `[v6]#port` (port default 53).
pub fn parse_server_addr(s: &str) -> Option<SocketAddr> {
    let (host, port) = match s.rsplit_once('#') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => (s, DEFAULT_PORT),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(SocketAddr::new(host.parse().ok()?, port))
}

/// Parses one `--server`/`--local`/`--address` value into the rule tables.
pub(super) fn parse_rule(
    opt: &str,
    v: &str,
    domains: &mut HashMap<String, Action>,
    defaults: &mut Vec<SocketAddr>,
) -> Result<(), ConfigError> {
    let Some(rest) = v.strip_prefix('/') else {
        if opt == "address" {
            return Err(bad(opt, v, "expected /domain/[address]"));
        }
        let s = parse_server_addr(v).ok_or_else(|| bad(opt, v, "not ip[#port]"))?;
        if !defaults.contains(&s) {
            defaults.push(s);
        }
        return Ok(());
    };
    let Some((doms, target)) = rest.rsplit_once('/') else {
        return Err(bad(opt, v, "missing closing `/`"));
    };
    let action = match (opt, target) {
        (_, "") => Action::Local,
        ("address", t) => {
            let ip = t
                .parse::<IpAddr>()
                .map_err(|_| bad(opt, v, "not an IP address"))?;
            Action::Address(vec![ip])
        }
        (_, "#") => Action::UseDefault,
        (_, t) => Action::Forward(vec![
            parse_server_addr(t).ok_or_else(|| bad(opt, v, "not ip[#port]"))?,
        ]),
    };
    for d in doms.split('/') {
        let d = if d == "#" {
            String::new()
        } else {
            d.trim_end_matches('.').to_ascii_lowercase()
        };
        if d.is_empty() && opt != "address" && doms != "#" {
            // `--server=//ip` (unqualified names) is not supported: treat as an error.
            return Err(bad(opt, v, "empty domain"));
        }
        let entry = domains.entry(d).or_insert_with(|| match &action {
            Action::Forward(_) => Action::Forward(Vec::new()),
            Action::Address(_) => Action::Address(Vec::new()),
            other => other.clone(),
        });
        match (entry, &action) {
            (Action::Forward(list), Action::Forward(new)) => {
                for s in new {
                    if !list.contains(s) {
                        list.push(*s);
                    }
                }
            }
            (Action::Address(list), Action::Address(new)) => list.extend(new),
            (e @ Action::Forward(_), Action::Address(_)) => *e = action.clone(),
            (e, Action::Local) => *e = Action::Local,
            _ => {}
        }
    }
    Ok(())
}
