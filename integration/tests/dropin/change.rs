//! The live ConfigMap change: a second stub domain and an upstream override are published
//! (API object and volume directories) while a background loop queries a stable name every
//! 50 ms; kubedns and dnsmasq-rs must apply the change within the legacy period without a
//! single failed query.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::rr::RecordType;
use integration::harness::Transport;
use tokio::time::Instant;

use super::client::{Expect, check, query};
use super::fixture::*;
use super::running::{ConfigUse, Pod, expect_answer, expect_both};

/// Changes the ConfigMap (a second stub domain, an upstream override) while a background
/// loop queries a stable name every 50 ms, and waits for kubedns and dnsmasq-rs to apply it.
pub async fn config_change(pod: &mut Pod, cm: &str, uses: &ConfigUse) -> anyhow::Result<()> {
    let dns = pod.addr(DNS_PORT);
    let kubedns = pod.addr(KUBEDNS_DNS_PORT);
    // Before: both forward to the resolv.conf upstream.
    if uses.kubedns {
        expect_both(
            pod,
            kubedns,
            WHICH_UPSTREAM,
            &Expect::A(vec![UPSTREAM1_ID]),
            ANSWER_TIMEOUT,
        )
        .await?;
    }
    expect_both(
        pod,
        dns,
        WHICH_UPSTREAM,
        &Expect::A(vec![UPSTREAM1_ID]),
        ANSWER_TIMEOUT,
    )
    .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let stable = format!("kubernetes.default.svc.{DOMAIN}");
    let bg = {
        let (stop, sent, failures, stable) =
            (stop.clone(), sent.clone(), failures.clone(), stable.clone());
        tokio::spawn(async move {
            let want = Expect::A(vec![KUBERNETES_IP]);
            let mut tick = tokio::time::interval(STABLE_QUERY_PERIOD);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let t = if n.is_multiple_of(2) {
                    Transport::Udp
                } else {
                    Transport::Tcp
                };
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                let r = query(dns, &stable, RecordType::A, t)
                    .await
                    .and_then(|m| check(&m, &want));
                if let Err(e) = r {
                    failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("query #{n} over {t:?}: {e:#}"));
                }
            }
        })
    };

    let changed: BTreeMap<String, String> = [
        (
            "stubDomains".to_string(),
            format!(
                r#"{{"{STUB_DOMAIN}": ["{s}"], "{STUB_DOMAIN2}": ["{s}"]}}"#,
                s = pod.stub.addr
            ),
        ),
        (
            "upstreamNameservers".to_string(),
            format!(r#"["{}"]"#, pod.upstream2.addr),
        ),
    ]
    .into();
    println!("  ConfigMap {cm} changed to {changed:?}");
    pod.set_config_map(cm, &changed)?;
    let changed_at = Instant::now();
    let result = async {
        let want2 = Expect::A(vec![UPSTREAM2_ID]);
        if uses.kubedns {
            let d = expect_answer(kubedns, WHICH_UPSTREAM, Transport::Udp, &want2, CONFIG_CHANGE_TIMEOUT)
                .await
                .context("kubedns did not apply upstreamNameservers")?;
            println!("  ok: kubedns forwards to the new upstream {:?} after the change", d);
        }
        let d = expect_answer(dns, WHICH_UPSTREAM, Transport::Udp, &want2, CONFIG_CHANGE_TIMEOUT)
            .await
            .context("port 53 (dnsmasq-rs) did not switch to the new upstream")?;
        println!("  ok: port 53 forwards to the new upstream {:?} after the change ({d:?} of waiting here)", changed_at.elapsed());
        if uses.dnsmasq_nanny {
            let d = expect_answer(dns, STUB_NAME2, Transport::Udp, &Expect::A(vec![STUB_IP2]), CONFIG_CHANGE_TIMEOUT)
                .await
                .context("dnsmasq-rs did not apply the new stub domain")?;
            println!("  ok: dnsmasq-rs serves the new stub domain {STUB_DOMAIN2} ({d:?} more)");
        }
        anyhow::Ok(())
    }
    .await;
    // Keep querying a moment past the switch (and at least MIN_STABLE_WINDOW in all, since
    // the API-watch mode applies a change in milliseconds), then stop.
    let until = (Instant::now() + Duration::from_millis(500)).max(changed_at + MIN_STABLE_WINDOW);
    tokio::time::sleep_until(until).await;
    stop.store(true, Ordering::Relaxed);
    let _ = bg.await;
    if let Err(e) = result {
        bail!("{e:#}\n{}", pod.describe());
    }
    let elapsed = changed_at.elapsed();
    if elapsed > CONFIG_CHANGE_TIMEOUT {
        bail!("the ConfigMap change took {elapsed:?} (> {CONFIG_CHANGE_TIMEOUT:?})");
    }
    for t in [Transport::Udp, Transport::Tcp] {
        let m = query(dns, WHICH_UPSTREAM, RecordType::A, t).await?;
        check(&m, &Expect::A(vec![UPSTREAM2_ID]))
            .with_context(|| format!("{WHICH_UPSTREAM} over {t:?} after the change"))?;
        if uses.dnsmasq_nanny {
            let m = query(dns, STUB_NAME, RecordType::A, t).await?;
            check(&m, &Expect::A(vec![STUB_IP]))
                .with_context(|| format!("{STUB_NAME} over {t:?} after the change"))?;
        }
    }
    if pod.upstream2.queries() == 0 {
        bail!(
            "the new upstream {} never received a query",
            pod.upstream2.addr
        );
    }
    let sent = sent.load(Ordering::Relaxed);
    let failures = failures.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!(
        "  stable-name queries during the change: {sent} sent, {} failed",
        failures.len()
    );
    if !failures.is_empty() {
        bail!(
            "{} of {sent} queries for {stable} failed during the ConfigMap change: {:?}\n{}",
            failures.len(),
            failures.iter().take(10).collect::<Vec<_>>(),
            pod.describe()
        );
    }
    if sent < MIN_STABLE_QUERIES {
        bail!("only {sent} background queries ran; the zero-failure check is meaningless");
    }
    Ok(())
}
