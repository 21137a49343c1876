//! kube-dns configuration: the `kube-system/kube-dns` ConfigMap (from `--config-dir` or
//! `--config-map`), or the deprecated `--federations`/`--nameservers` flags when neither is set,
//! turned into the [`EffectiveConfig`] the store serves with.
//!
//! Rules (legacy `pkg/dns/config`): an update is validated as a whole and either applied
//! completely or ignored (last good config kept, reason logged once); the initial load falling
//! back to the default (empty) config on error; an empty `upstreamNameservers` means the
//! nameservers of resolv.conf, which is re-read on every applied update.

pub mod validate;

/// resolv.conf parsing lives in the shared crate.
pub use serverkit::resolv;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serverkit::configdir::{DirPoller, DirSnapshot};
use tokio_util::sync::CancellationToken;

use self::validate::{KubeDnsConfig, parse_config_data};

/// One observed version of the ConfigMap data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// Dir mode: hex SHA-256 of the files; API mode: `metadata.resourceVersion`; `""` = no data.
    pub version: String,
    /// Key → value.
    pub data: BTreeMap<String, String>,
}

impl From<DirSnapshot> for ConfigUpdate {
    fn from(snap: DirSnapshot) -> Self {
        ConfigUpdate {
            version: snap.version,
            data: snap.files,
        }
    }
}

/// The configuration the DNS store uses (converted to the store's `DnsConfig` by `run`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveConfig {
    /// Federation name → domain.
    pub federations: BTreeMap<String, String>,
    /// Upstreams from the ConfigMap or `--nameservers` (empty = use `resolv_conf_upstreams`).
    pub upstreams: Vec<SocketAddr>,
    /// Nameservers of resolv.conf at the time of the update.
    pub resolv_conf_upstreams: Vec<SocketAddr>,
}

/// Keeps the last good configuration and decides what each update does. Pure.
#[derive(Debug, Default)]
pub struct ConfigTracker {
    current: KubeDnsConfig,
    version: Option<String>,
    last_error: Option<String>,
}

/// Result of [`ConfigTracker::apply`].
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The update was valid and is now current.
    Changed,
    /// Same version as the current config: nothing to do.
    Unchanged,
    /// Invalid: the last good config stays. `first_report` is false when the same reason was
    /// already reported (so it is logged once).
    Rejected {
        /// The reason.
        reason: String,
        /// Whether this reason is new.
        first_report: bool,
    },
}

impl ConfigTracker {
    /// A tracker holding the default (empty) configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current (last good) configuration.
    pub fn current(&self) -> &KubeDnsConfig {
        &self.current
    }

    /// Apply one update atomically.
    pub fn apply(&mut self, update: &ConfigUpdate) -> Applied {
        if self.version.as_deref() == Some(update.version.as_str()) {
            return Applied::Unchanged;
        }
        match parse_config_data(&update.data) {
            Ok(cfg) => {
                self.current = cfg;
                self.version = Some(update.version.clone());
                self.last_error = None;
                Applied::Changed
            }
            Err(e) => {
                let reason = e.to_string();
                Applied::Rejected {
                    first_report: self.note_error(&reason),
                    reason,
                }
            }
        }
    }

    /// Record a source error (unreadable directory…); true when it differs from the last one.
    pub fn note_error(&mut self, reason: &str) -> bool {
        if self.last_error.as_deref() == Some(reason) {
            return false;
        }
        self.last_error = Some(reason.to_string());
        true
    }

    /// The effective config for the current data and the given resolv.conf upstreams.
    pub fn effective(&self, resolv_conf_upstreams: Vec<SocketAddr>) -> EffectiveConfig {
        EffectiveConfig {
            federations: self.current.federations.clone(),
            upstreams: self.current.upstream_nameservers.clone(),
            resolv_conf_upstreams,
        }
    }
}

/// Apply `update` to `tracker` and, when it changed, hand the new config to `sink` (re-reading
/// resolv.conf). Logs rejections once.
pub fn apply_and_publish(
    tracker: &mut ConfigTracker,
    update: &ConfigUpdate,
    resolv_conf: &Path,
    source: &str,
    sink: &mut (dyn FnMut(EffectiveConfig) + Send),
) {
    match tracker.apply(update) {
        Applied::Changed => {
            let cfg = tracker.effective(resolv::read_resolv_conf(resolv_conf));
            tracing::info!(
                source,
                version = %update.version,
                federations = ?cfg.federations,
                upstreams = ?cfg.upstreams,
                resolv_conf = ?cfg.resolv_conf_upstreams,
                "applied kube-dns config"
            );
            sink(cfg);
        }
        Applied::Unchanged => {}
        Applied::Rejected {
            reason,
            first_report,
        } => {
            if first_report {
                tracing::error!(source, version = %update.version, %reason, "invalid kube-dns config ignored; keeping the last good config");
            }
        }
    }
}

/// No config source: the deprecated `--federations` / `--nameservers` flags, applied once.
pub fn static_config(
    federations: BTreeMap<String, String>,
    nameservers: Vec<SocketAddr>,
    resolv_conf: &Path,
) -> EffectiveConfig {
    EffectiveConfig {
        federations,
        upstreams: nameservers,
        resolv_conf_upstreams: resolv::read_resolv_conf(resolv_conf),
    }
}

/// Poll `--config-dir` until `shutdown`: first read at once (error → default config), then every
/// `period`, publishing only valid changes.
pub async fn run_config_dir(
    dir: PathBuf,
    period: Duration,
    resolv_conf: PathBuf,
    mut sink: impl FnMut(EffectiveConfig) + Send,
    shutdown: CancellationToken,
) {
    let mut poller = DirPoller::new(dir);
    let mut tracker = ConfigTracker::new();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let (returned, result) = match tokio::task::spawn_blocking(move || {
            let r = poller.poll().map(|u| u.map(ConfigUpdate::from));
            (poller, r)
        })
        .await
        {
            Ok(v) => v,
            Err(err) => {
                tracing::error!(%err, "config dir poll task failed");
                return;
            }
        };
        poller = returned;
        match result {
            Ok(Some(update)) => {
                apply_and_publish(&mut tracker, &update, &resolv_conf, "config-dir", &mut sink)
            }
            Ok(None) => {}
            Err(err) => {
                let reason = err.to_string();
                if tracker.note_error(&reason) {
                    tracing::error!(dir = %poller.dir().display(), %reason, "cannot read config dir; keeping the last good config");
                }
                if first {
                    // Legacy: an initial load failure starts with the default config.
                    sink(tracker.effective(resolv::read_resolv_conf(&resolv_conf)));
                }
            }
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(version: &str, pairs: &[(&str, &str)]) -> ConfigUpdate {
        ConfigUpdate {
            version: version.into(),
            data: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn federations_sync_replaces_map() {
        // §7.1 item 14: initial federations applied, later updates replace the map.
        let mut t = ConfigTracker::new();
        assert_eq!(
            t.apply(&update("1", &[("federations", "fed1=example.com")])),
            Applied::Changed
        );
        assert_eq!(t.current().federations.len(), 1);
        assert_eq!(
            t.apply(&update(
                "2",
                &[("federations", "fed2=other.com,fed3=x.org")]
            )),
            Applied::Changed
        );
        let names: Vec<_> = t.current().federations.keys().cloned().collect();
        assert_eq!(names, vec!["fed2", "fed3"]);
        assert_eq!(t.apply(&update("2", &[])), Applied::Unchanged);
    }

    #[test]
    fn upstream_update_cases() {
        // §7.1 item 15.
        let resolv = vec!["127.0.0.1:53".parse().unwrap()];
        let mut t = ConfigTracker::new();
        let r = t.apply(&update(
            "1",
            &[("upstreamNameservers", r#"["badNameserver"]"#)],
        ));
        assert!(matches!(
            r,
            Applied::Rejected {
                first_report: true,
                ..
            }
        ));
        // No previous list: the resolv.conf nameservers are used.
        let eff = t.effective(resolv.clone());
        assert!(eff.upstreams.is_empty());
        assert_eq!(eff.resolv_conf_upstreams, resolv);

        let r = t.apply(&update(
            "2",
            &[(
                "upstreamNameservers",
                r#"["192.0.2.123:10086","192.0.2.123"]"#,
            )],
        ));
        assert_eq!(r, Applied::Changed);
        let want: Vec<SocketAddr> = vec![
            "192.0.2.123:10086".parse().unwrap(),
            "192.0.2.123:53".parse().unwrap(),
        ];
        assert_eq!(t.effective(resolv.clone()).upstreams, want);

        // Invalid again: previous list kept; same reason reported once only.
        let r = t.apply(&update(
            "3",
            &[("upstreamNameservers", r#"["badNameserver"]"#)],
        ));
        assert!(matches!(
            r,
            Applied::Rejected {
                first_report: true,
                ..
            }
        ));
        let r = t.apply(&update(
            "4",
            &[("upstreamNameservers", r#"["badNameserver"]"#)],
        ));
        assert!(matches!(
            r,
            Applied::Rejected {
                first_report: false,
                ..
            }
        ));
        assert_eq!(t.effective(resolv.clone()).upstreams, want);

        // Empty config: back to resolv.conf.
        assert_eq!(t.apply(&update("", &[])), Applied::Changed);
        assert!(t.effective(resolv).upstreams.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn dir_sync_publishes_first_then_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg_dir = tmp.path().join("cfg");
        std::fs::create_dir(&cfg_dir).unwrap();
        std::fs::write(cfg_dir.join("federations"), "a=b.c").unwrap();
        let resolv = tmp.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_config_dir(
            cfg_dir.clone(),
            Duration::from_secs(10),
            resolv.clone(),
            move |c| {
                let _ = tx.send(c);
            },
            shutdown.clone(),
        ));
        let first = rx.recv().await.unwrap();
        assert_eq!(first.federations.get("a").map(String::as_str), Some("b.c"));
        assert_eq!(
            first.resolv_conf_upstreams,
            vec!["127.0.0.1:53".parse::<SocketAddr>().unwrap()]
        );

        // An invalid update is ignored; a later valid one is applied with a re-read resolv.conf.
        std::fs::write(cfg_dir.join("upstreamNameservers"), "[\"bad\"]").unwrap();
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(rx.try_recv().is_err());
        std::fs::write(cfg_dir.join("upstreamNameservers"), "[\"192.0.2.1:5353\"]").unwrap();
        std::fs::write(&resolv, "nameserver 10.0.0.10\n").unwrap();
        let next = rx.recv().await.unwrap();
        assert_eq!(
            next.upstreams,
            vec!["192.0.2.1:5353".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            next.resolv_conf_upstreams,
            vec!["10.0.0.10:53".parse::<SocketAddr>().unwrap()]
        );
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn missing_dir_starts_with_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_config_dir(
            tmp.path().join("absent"),
            Duration::from_secs(10),
            tmp.path().join("resolv.conf"),
            move |c| {
                let _ = tx.send(c);
            },
            shutdown.clone(),
        ));
        let first = rx.recv().await.unwrap();
        assert_eq!(first, EffectiveConfig::default());
        shutdown.cancel();
        task.await.unwrap();
    }
}
