//! The emulator against a real kube-runtime `watcher`/`reflector`: initial list, watch,
//! changes, a forced 410 Gone and a compaction both trigger a full relist (`Init` …
//! `InitDone` again), the store converges, and watch-stream cuts are survived.

use std::time::Duration;

use futures::StreamExt;
use integration::harness::objects;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector};
use kube_emulator::{Emulator, EmulatorConfig};

const T: Duration = Duration::from_secs(10);

type Ev = Result<Event<Service>, watcher::Error>;

async fn next_matching<S, F>(stream: &mut S, what: &str, mut f: F) -> anyhow::Result<Ev>
where
    S: futures::Stream<Item = Ev> + Unpin,
    F: FnMut(&Ev) -> bool,
{
    tokio::time::timeout(T, async {
        while let Some(e) = stream.next().await {
            if f(&e) {
                return Ok(e);
            }
        }
        anyhow::bail!("stream ended while waiting for {what}")
    })
    .await
    .map_err(|_| anyhow::anyhow!("timed out waiting for {what}"))?
}

fn name(s: &Service) -> &str {
    s.metadata.name.as_deref().unwrap_or("")
}

#[tokio::test]
async fn watcher_lists_watches_and_relists_after_410() -> anyhow::Result<()> {
    let emu = Emulator::start(EmulatorConfig {
        bookmark_interval: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await?;
    let api: Api<Service> = Api::all(emu.kube_client()?);
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();

    let _ = next_matching(&mut stream, "Init", |e| matches!(e, Ok(Event::Init))).await?;
    let first = next_matching(&mut stream, "InitApply(kubernetes)", |e| {
        matches!(e, Ok(Event::InitApply(_)))
    })
    .await?;
    assert!(matches!(&first, Ok(Event::InitApply(s)) if name(s) == "kubernetes"));
    let _ = next_matching(&mut stream, "InitDone", |e| {
        matches!(e, Ok(Event::InitDone))
    })
    .await?;

    emu.create(objects::service(
        "default",
        "web",
        "10.0.0.50",
        &[("http", 80, "TCP")],
    ))?;
    let e = next_matching(&mut stream, "Apply(web)", |e| {
        matches!(e, Ok(Event::Apply(_)))
    })
    .await?;
    assert!(matches!(&e, Ok(Event::Apply(s)) if name(s) == "web"));

    // Forced 410 on the next watch: cut the current stream so the watcher re-watches.
    emu.force_gone(1, Some("services"));
    emu.close_watches();
    let err = next_matching(&mut stream, "410 error", |e| e.is_err()).await?;
    assert!(format!("{:?}", err).contains("410"), "{err:?}");
    let _ = next_matching(&mut stream, "relist Init", |e| matches!(e, Ok(Event::Init))).await?;
    let mut relisted = Vec::new();
    loop {
        match next_matching(&mut stream, "relist items", |_| true).await? {
            Ok(Event::InitApply(s)) => relisted.push(name(&s).to_string()),
            Ok(Event::InitDone) => break,
            other => anyhow::bail!("unexpected during relist: {other:?}"),
        }
    }
    relisted.sort();
    assert_eq!(relisted, vec!["kubernetes", "web"]);

    // Changes after the relist are still delivered; deletions too.
    emu.delete("v1", "Service", "default", "web")?;
    let e = next_matching(&mut stream, "Delete(web)", |e| {
        matches!(e, Ok(Event::Delete(_)))
    })
    .await?;
    assert!(matches!(&e, Ok(Event::Delete(s)) if name(s) == "web"));
    Ok(())
}

#[tokio::test]
async fn reflector_converges_through_compaction_and_outage() -> anyhow::Result<()> {
    let emu = Emulator::start_default().await?;
    let api: Api<EndpointSlice> = Api::all(emu.kube_client()?);
    let (reader, writer) = reflector::store::<EndpointSlice>();
    let stream = reflector::reflector(
        writer,
        watcher::watcher(api, watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(stream.for_each(|_| async {}));
    tokio::time::timeout(T, reader.wait_until_ready()).await??;
    assert_eq!(reader.len(), 1); // the mirrored default/kubernetes slice

    emu.create(objects::service(
        "default",
        "a",
        "None",
        &[("dns", 53, "UDP")],
    ))?;
    emu.create(objects::service(
        "default",
        "b",
        "None",
        &[("dns", 53, "UDP")],
    ))?;
    emu.create(objects::endpoints(
        "default",
        "a",
        &[objects::Addr::ready("10.1.0.1")],
        &[("dns", 53, "UDP")],
    ))?;
    // Drop all history and cut watches: the reflector must relist and still see everything.
    emu.compact_and_close_watches();
    emu.create(objects::endpoints(
        "default",
        "b",
        &[objects::Addr::ready("10.1.0.2")],
        &[("dns", 53, "UDP")],
    ))?;
    let deadline = tokio::time::Instant::now() + T;
    while reader.len() != 3 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "reflector has {} slices, want 3",
            reader.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emu.outage(
        kube_emulator::OutageMode::Refuse,
        Duration::from_millis(500),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    emu.delete("v1", "Endpoints", "default", "a")?;
    let deadline = tokio::time::Instant::now() + T;
    while reader.len() != 2 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "reflector has {} slices after the outage, want 2",
            reader.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    Ok(())
}
