//! `--dns-loop-detect`: a `<random>.test TXT` probe is sent to every upstream; a server whose
//! probe comes back to us forwards to us, so it is disabled (queries skip it) until the
//! server set changes.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;

use crate::wire::{self, Parsed, QueryInfo};

/// Probes in flight and the servers found looping.
#[derive(Default)]
pub struct LoopDetector {
    looped: Mutex<HashSet<SocketAddr>>,
    probes: Mutex<HashMap<Vec<u8>, SocketAddr>>,
}

/// One probe to send.
pub struct Probe {
    pub server: SocketAddr,
    /// The probe name in wire form (the key to [`LoopDetector::probe_done`]).
    pub name: Vec<u8>,
    pub query: QueryInfo,
}

impl LoopDetector {
    /// Registers a fresh probe for each of `servers`; the caller sends them.
    pub fn new_probes(&self, servers: &[SocketAddr]) -> Vec<Probe> {
        let mut out = Vec::new();
        for &server in servers {
            let name = format!("{:016x}.test", rand::random::<u64>());
            let Some(wire_name) = wire::string_to_wire_name(&name) else {
                continue;
            };
            let mut pkt = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            pkt.extend_from_slice(&wire_name);
            pkt.extend_from_slice(&wire::TYPE_TXT.to_be_bytes());
            pkt.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
            let Parsed::Query(query) = wire::parse_query(&pkt) else {
                continue;
            };
            if let Ok(mut p) = self.probes.lock() {
                p.insert(wire_name.clone(), server);
            }
            out.push(Probe {
                server,
                name: wire_name,
                query,
            });
        }
        out
    }

    /// The probe's exchange ended (answered or not).
    pub fn probe_done(&self, name: &[u8]) {
        if let Ok(mut p) = self.probes.lock() {
            p.remove(name);
        }
    }

    /// Whether an incoming TXT question is one of our probes; if so, the server it was sent
    /// to is marked as looping.
    pub fn is_probe(&self, q: &QueryInfo) -> bool {
        let Ok(probes) = self.probes.lock() else {
            return false;
        };
        if probes.is_empty() {
            return false;
        }
        let Some(server) = probes.get(q.name_wire()).copied() else {
            return false;
        };
        drop(probes);
        if let Ok(mut l) = self.looped.lock()
            && l.insert(server)
        {
            tracing::error!(%server, "forwarding loop detected; server disabled");
        }
        true
    }

    /// `servers` without the looping ones.
    pub fn usable(&self, servers: &[SocketAddr]) -> Vec<SocketAddr> {
        match self.looped.lock() {
            Ok(looped) if !looped.is_empty() => servers
                .iter()
                .filter(|s| !looped.contains(s))
                .copied()
                .collect(),
            _ => servers.to_vec(),
        }
    }

    /// Forgets every looping server (the server set changed).
    pub fn clear(&self) {
        if let Ok(mut l) = self.looped.lock() {
            l.clear();
        }
    }

    /// Servers disabled by loop detection.
    pub fn looped(&self) -> Vec<SocketAddr> {
        self.looped
            .lock()
            .map(|l| l.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returning_probe_disables_its_server_until_cleared() {
        let d = LoopDetector::default();
        let servers: Vec<SocketAddr> = vec![
            "10.0.0.1:53".parse().unwrap(),
            "10.0.0.2:53".parse().unwrap(),
        ];
        let probes = d.new_probes(&servers);
        assert_eq!(probes.len(), 2);
        assert!(d.is_probe(&probes[1].query), "our probe came back");
        assert_eq!(d.looped(), vec![servers[1]]);
        assert_eq!(d.usable(&servers), vec![servers[0]]);
        d.probe_done(&probes[0].name);
        assert!(
            !d.is_probe(&probes[0].query),
            "finished probes no longer match"
        );
        d.clear();
        assert_eq!(d.usable(&servers), servers);
    }
}
