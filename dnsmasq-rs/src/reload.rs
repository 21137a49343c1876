//! Configuration reloads: building a [`Config`] from argument lists, and the [`Reloader`]
//! that keeps it in step with the ConfigMap directory (nanny dialect; read by
//! [`serverkit::configdir`], translated by [`crate::nanny`]) and resolv.conf changes (both
//! dialects). An invalid update is rejected whole and logged once; the last good
//! configuration stays in force.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::engine::Engine;
use crate::flags::{self, NannyFlags};
use crate::nanny::{self, NameResolver};

/// How often resolv.conf is checked for changes.
pub const RESOLV_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Reads a file from the real filesystem.
pub fn read_fs(p: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(p)
}

/// Parses dnsmasq arguments (plus conf files) and builds the configuration.
pub fn build_config(
    args: &[String],
    default_conf: Option<&Path>,
) -> Result<(Config, Vec<String>), ConfigError> {
    let opts = flags::parse_dnsmasq(args, &read_fs, default_conf)?;
    Config::build(&opts, &read_fs)
}

/// Keeps the configuration in step with the ConfigMap directory and resolv.conf.
pub struct Reloader {
    pub base_args: Vec<String>,
    pub default_conf: Option<std::path::PathBuf>,
    pub nanny: Option<NannyFlags>,
    pub resolver: Arc<dyn NameResolver>,
    version: Option<String>,
    bad_version: Option<String>,
    generated: Vec<String>,
    resolv_text: Option<String>,
    warned: std::collections::HashSet<String>,
}

impl Reloader {
    pub fn new(
        base_args: Vec<String>,
        default_conf: Option<std::path::PathBuf>,
        nanny: Option<NannyFlags>,
        resolver: Arc<dyn NameResolver>,
    ) -> Reloader {
        Reloader {
            base_args,
            default_conf,
            nanny,
            resolver,
            version: None,
            bad_version: None,
            generated: Vec::new(),
            resolv_text: None,
            warned: std::collections::HashSet::new(),
        }
    }

    /// The full dnsmasq argument list currently in force.
    /// Marks warnings as already logged (the startup configuration logs its own).
    pub fn mark_warned(&mut self, warnings: &[String]) {
        self.warned.extend(warnings.iter().cloned());
    }

    pub fn args(&self) -> Vec<String> {
        let mut a = self.base_args.clone();
        a.extend(self.generated.iter().cloned());
        a
    }

    /// One poll. Returns a new configuration when something changed and it is valid.
    pub async fn poll(&mut self, current: &Config) -> Option<Config> {
        let mut candidate: Option<(String, Vec<String>)> = None;
        if let Some(n) = &self.nanny {
            match nanny::read_config_dir(&n.config_dir) {
                Ok(snap)
                    if Some(&snap.version) != self.version.as_ref()
                        && Some(&snap.version) != self.bad_version.as_ref() =>
                {
                    match nanny::parse_config(&snap.files) {
                        Ok(nc) => {
                            let resolved = nanny::resolve_all(&nc, &*self.resolver).await;
                            let generated =
                                nanny::translate(&nc, &|name| resolved.get(name).copied());
                            candidate = Some((snap.version, generated));
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "invalid kube-dns ConfigMap; keeping the last good configuration");
                            self.bad_version = Some(snap.version);
                        }
                    }
                }
                Ok(_) => {}
                // Missing or unreadable: keep the configuration in force (at startup that is
                // the default one, as in the legacy nanny); logged once per distinct error.
                Err(e) => {
                    let e = format!("cannot read the ConfigMap directory: {e}");
                    if self.warned.insert(e.clone()) {
                        tracing::warn!("{e}; keeping the current configuration");
                    }
                }
            }
        }
        let mut resolv_changed = false;
        if !current.no_resolv && current.poll_resolv {
            let text = read_fs(&current.resolv_file).ok();
            if self.resolv_text.is_some() && text != self.resolv_text {
                tracing::info!(file = %current.resolv_file.display(), "resolv file changed");
                resolv_changed = true;
            }
            self.resolv_text = text;
        }
        if candidate.is_none() && !resolv_changed {
            return None;
        }
        let mut args = self.base_args.clone();
        match &candidate {
            Some((_, generated)) => args.extend(generated.iter().cloned()),
            None => args.extend(self.generated.iter().cloned()),
        }
        match build_config(&args, self.default_conf.as_deref()) {
            Ok((cfg, warnings)) => {
                for w in warnings {
                    if self.warned.insert(w.clone()) {
                        tracing::warn!("{w}");
                    }
                }
                if let Some((version, generated)) = candidate {
                    tracing::info!(%version, args = ?generated, "applying kube-dns ConfigMap");
                    self.version = Some(version);
                    self.generated = generated;
                    self.bad_version = None;
                }
                (cfg != *current).then_some(cfg)
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration from the ConfigMap is invalid; keeping the last good one");
                if let Some((version, _)) = candidate {
                    self.bad_version = Some(version);
                }
                None
            }
        }
    }
}

/// Periodically polls; applies new configurations to `engine`.
pub async fn reload_loop(engine: Arc<Engine>, mut reloader: Reloader, cancel: CancellationToken) {
    let sync = reloader.nanny.as_ref().map_or(RESOLV_POLL_INTERVAL, |n| {
        n.sync_interval.max(Duration::from_millis(10))
    });
    let period = sync.min(RESOLV_POLL_INTERVAL);
    let mut next_dir = tokio::time::Instant::now();
    loop {
        let cur = engine.config();
        let due = tokio::time::Instant::now() >= next_dir;
        let saved = reloader.nanny.clone();
        if !due {
            reloader.nanny = None; // only resolv.conf this round
        }
        let new = reloader.poll(&cur).await;
        reloader.nanny = saved;
        if due {
            next_dir = tokio::time::Instant::now() + sync;
        }
        if let Some(cfg) = new {
            engine.apply_config(cfg);
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

/// Parses the kubedns server flag (`ip:port`, default port 53).
pub fn parse_kubedns_server(s: &str) -> Option<SocketAddr> {
    s.parse().ok().or_else(|| {
        s.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoResolve;
    impl NameResolver for NoResolve {
        fn resolve(&self, _: &str) -> futures::future::BoxFuture<'_, Option<std::net::IpAddr>> {
            Box::pin(async { None })
        }
    }

    #[tokio::test]
    async fn reloader_applies_valid_and_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let base: Vec<String> = ["--no-hosts", "--no-resolv", "--server=127.0.0.1#10053"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let nanny = NannyFlags {
            config_dir: dir.path().to_path_buf(),
            ..NannyFlags::default()
        };
        let mut r = Reloader::new(base.clone(), None, Some(nanny), Arc::new(NoResolve));
        let (cur, _) = build_config(&base, None).unwrap();
        // Empty dir: same configuration, nothing to apply.
        assert!(r.poll(&cur).await.is_none());
        std::fs::write(dir.path().join("upstreamNameservers"), r#"["5.6.7.8"]"#).unwrap();
        let next = r.poll(&cur).await.expect("applied");
        assert_eq!(
            next.default_servers,
            vec![
                "127.0.0.1:10053".parse().unwrap(),
                "5.6.7.8:53".parse().unwrap()
            ]
        );
        assert!(r.poll(&next).await.is_none(), "unchanged version");
        // Garbage, then an unresolvable stub nameserver name: both rejected.
        std::fs::write(dir.path().join("upstreamNameservers"), "garbage").unwrap();
        assert!(r.poll(&next).await.is_none());
        std::fs::write(dir.path().join("upstreamNameservers"), r#"["5.6.7.8"]"#).unwrap();
        std::fs::write(
            dir.path().join("stubDomains"),
            r#"{"acme.local":["ns.example.invalid"]}"#,
        )
        .unwrap();
        assert!(r.poll(&next).await.is_none());
        assert!(r.args().iter().any(|a| a == "5.6.7.8"));
        std::fs::write(
            dir.path().join("stubDomains"),
            r#"{"acme.local":["1.2.3.4"]}"#,
        )
        .unwrap();
        let last = r.poll(&next).await.expect("applied");
        assert!(last.domains.contains_key("acme.local"));
    }

    #[tokio::test]
    async fn resolv_file_changes_are_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 10.0.0.1\n").unwrap();
        let base = vec![
            "--no-hosts".to_string(),
            format!("--resolv-file={}", resolv.display()),
        ];
        let mut r = Reloader::new(base.clone(), None, None, Arc::new(NoResolve));
        let (cur, _) = build_config(&base, None).unwrap();
        assert_eq!(cur.default_servers, vec!["10.0.0.1:53".parse().unwrap()]);
        assert!(r.poll(&cur).await.is_none(), "first poll records the file");
        std::fs::write(&resolv, "nameserver 10.0.0.2\n").unwrap();
        let next = r.poll(&cur).await.expect("changed");
        assert_eq!(next.default_servers, vec!["10.0.0.2:53".parse().unwrap()]);
    }
}
