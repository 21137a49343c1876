//! Hosts data: `/etc/hosts`-format files (`--addn-hosts`, the system hosts file) and
//! `--host-record`, indexed by name and by address (for PTR answers).

use std::collections::HashMap;
use std::net::IpAddr;

use super::reverse_name_to_ip;

/// Parsed hosts files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    pub by_name: HashMap<String, Vec<IpAddr>>,
    pub by_addr: HashMap<IpAddr, String>,
}

impl Hosts {
    /// Adds the contents of a hosts file (`ip name [aliases…]`, `#` comments).
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok()) else {
                continue;
            };
            for (i, name) in fields.enumerate() {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name.is_empty() {
                    continue;
                }
                let v = self.by_name.entry(name.clone()).or_default();
                if !v.contains(&ip) {
                    v.push(ip);
                }
                if i == 0 {
                    self.by_addr.entry(ip).or_insert(name);
                }
            }
        }
    }

    /// `--host-record=<name>[,<name>…],<ip>[,<ip>…][,<ttl>]` (the TTL is ignored: answers
    /// use `--local-ttl`).
    pub fn add_host_record(&mut self, v: &str) -> Result<(), &'static str> {
        let fields: Vec<&str> = v.split(',').map(str::trim).collect();
        let ips: Vec<IpAddr> = fields.iter().filter_map(|f| f.parse().ok()).collect();
        let names: Vec<String> = fields
            .iter()
            .filter(|f| f.parse::<IpAddr>().is_err() && f.parse::<u32>().is_err() && !f.is_empty())
            .map(|f| f.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        if ips.is_empty() || names.is_empty() {
            return Err("expected name[,name…],address[,address]");
        }
        for ip in &ips {
            let line = format!("{ip} {}", names.join(" "));
            self.add_text(&line);
        }
        Ok(())
    }

    /// PTR target for a reverse name (`4.3.2.1.in-addr.arpa` / nibble `ip6.arpa`).
    pub fn reverse(&self, qname: &str) -> Option<&str> {
        let ip = reverse_name_to_ip(qname)?;
        self.by_addr.get(&ip).map(String::as_str)
    }
}
