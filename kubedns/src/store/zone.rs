//! The read side: an immutable [`Zone`] snapshot.
//!
//! A snapshot is a fixed number of shards, each an `Arc<HashMap>`. A writer clones the
//! snapshot (a few hundred `Arc` bumps), copy-on-writes only the shards it touches
//! (`Arc::make_mut`) and publishes the result with one `ArcSwap::store`. Readers load the
//! current snapshot without locks and never see a half-applied change; an event costs
//! O(shard size), not O(zone size). Reverse (PTR) data lives in its own shards keyed by IP.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use super::entry::ServiceEntry;

/// Number of service shards and of reverse shards (10k Services → ~40 per shard).
pub const SHARDS: usize = 256;

type ServiceShard = HashMap<String, Arc<ServiceEntry>>;
type ReverseShard = HashMap<IpAddr, Box<[Arc<str>]>>;

/// Immutable view of all served cluster records.
#[derive(Clone, Debug)]
pub struct Zone {
    services: Box<[Arc<ServiceShard>]>,
    reverse: Box<[Arc<ReverseShard>]>,
    namespaces: Arc<HashMap<Arc<str>, u32>>,
    service_count: usize,
}

impl Default for Zone {
    fn default() -> Self {
        Self {
            services: (0..SHARDS).map(|_| Arc::default()).collect(),
            reverse: (0..SHARDS).map(|_| Arc::default()).collect(),
            namespaces: Arc::default(),
            service_count: 0,
        }
    }
}

fn shard_of<T: Hash + ?Sized>(v: &T) -> usize {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    (h.finish() % SHARDS as u64) as usize
}

/// Map key of a Service.
pub fn service_key(ns: &str, name: &str) -> String {
    let mut k = String::with_capacity(ns.len() + name.len() + 1);
    k.push_str(ns);
    k.push('/');
    k.push_str(name);
    k
}

impl Zone {
    /// The entry of `<name>.<ns>` (both lowercase).
    pub fn service(&self, ns: &str, name: &str) -> Option<&Arc<ServiceEntry>> {
        let key = service_key(ns, name);
        self.services[shard_of(key.as_str())].get(&key)
    }

    /// Entries matching `ns`/`name`, where either may be the `*` wildcard (compat §1.8: `*`
    /// matches any label). Literal names are a single map lookup; wildcards scan.
    pub fn services_matching(&self, ns: &str, name: &str) -> Vec<Arc<ServiceEntry>> {
        if ns != "*" && name != "*" {
            return self.service(ns, name).cloned().into_iter().collect();
        }
        let mut out: Vec<Arc<ServiceEntry>> = self
            .iter()
            .filter(|e| (ns == "*" || &*e.namespace == ns) && (name == "*" || &*e.name == name))
            .cloned()
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out
    }

    /// True when at least one Service exists in `ns` (`*` = any namespace).
    pub fn namespace_exists(&self, ns: &str) -> bool {
        if ns == "*" {
            return !self.namespaces.is_empty();
        }
        self.namespaces.contains_key(ns)
    }

    /// PTR targets (FQDNs with trailing dot) for an IP.
    pub fn ptr(&self, ip: IpAddr) -> Option<&[Arc<str>]> {
        self.reverse[shard_of(&ip)].get(&ip).map(|b| &**b)
    }

    /// All entries (unordered).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ServiceEntry>> {
        self.services.iter().flat_map(|s| s.values())
    }

    /// Number of Services.
    pub fn service_count(&self) -> usize {
        self.service_count
    }

    /// Number of IPs with PTR records.
    pub fn ptr_count(&self) -> usize {
        self.reverse.iter().map(|s| s.len()).sum()
    }

    /// Replace (or remove with `None`) the entry stored under `key`, keeping the reverse map
    /// and namespace index in step. `domain` is the zone with trailing dot.
    pub fn set(&mut self, domain: &str, key: &str, new: Option<Arc<ServiceEntry>>) {
        let shard = shard_of(key);
        let old = self.services[shard].get(key).cloned();
        if old == new {
            return;
        }
        if let Some(old) = &old {
            for (ip, label) in old.ptr_sources() {
                let target = ptr_target(domain, old, label.as_deref());
                let rs = Arc::make_mut(&mut self.reverse[shard_of(&ip)]);
                if let Some(list) = rs.get_mut(&ip) {
                    let kept: Box<[Arc<str>]> =
                        list.iter().filter(|t| ***t != *target).cloned().collect();
                    if kept.is_empty() {
                        rs.remove(&ip);
                    } else {
                        *list = kept;
                    }
                }
            }
        }
        if let Some(new) = &new {
            for (ip, label) in new.ptr_sources() {
                let target: Arc<str> = Arc::from(ptr_target(domain, new, label.as_deref()));
                let rs = Arc::make_mut(&mut self.reverse[shard_of(&ip)]);
                let list = rs.entry(ip).or_default();
                if !list.contains(&target) {
                    let mut v = list.to_vec();
                    v.push(target);
                    *list = v.into_boxed_slice();
                }
            }
        }
        let svcs = Arc::make_mut(&mut self.services[shard]);
        match (&old, new) {
            (None, Some(n)) => {
                *Arc::make_mut(&mut self.namespaces)
                    .entry(n.namespace.clone())
                    .or_insert(0) += 1;
                self.service_count += 1;
                svcs.insert(key.to_string(), n);
            }
            (Some(_), Some(n)) => {
                svcs.insert(key.to_string(), n);
            }
            (Some(o), None) => {
                svcs.remove(key);
                self.service_count -= 1;
                let nss = Arc::make_mut(&mut self.namespaces);
                if let Some(c) = nss.get_mut(&*o.namespace) {
                    *c -= 1;
                    if *c == 0 {
                        nss.remove(&*o.namespace);
                    }
                }
            }
            (None, None) => {}
        }
    }
}

/// FQDN a PTR for `entry` points at: `<svc>.<ns>.svc.<domain>` or `<label>.<svc>.<ns>.svc.<domain>`.
pub fn ptr_target(domain: &str, entry: &ServiceEntry, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("{l}.{}.{}.svc.{domain}", entry.name, entry.namespace),
        None => format!("{}.{}.svc.{domain}", entry.name, entry.namespace),
    }
}
