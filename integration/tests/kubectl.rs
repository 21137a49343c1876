//! kubectl round trip against the emulator (`kubectl --server http://127.0.0.1:PORT`):
//! create -f, get, apply -f (update through a strategic-merge patch), patch, delete, and
//! get -w receiving an event; and the imperative commands (create namespace/service/configmap,
//! edit, expose, delete). Needs the built kubectl (`serverkit::require`: skips outside CI).

use integration::controlplane::bins::{kubectl_need, kubectl_path};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use integration::harness::process::{ChildProcess, ProcessSpec};
use kube_emulator::{Emulator, EmulatorConfig};

fn kubectl(server: &str, home: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(kubectl_path())
        .arg(format!("--server={server}"))
        .args(args)
        .env("HOME", home)
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "kubectl {args:?} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  clusterIP: 10.0.0.80
  ports:
  - name: http
    port: 80
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_round_trip() -> anyhow::Result<()> {
    serverkit::require!(kubectl_need());
    let emu = Emulator::start(EmulatorConfig::default()).await?;
    let server = emu.url();
    let dir = tempfile::tempdir()?;
    let home = dir.path();
    let file = home.join("svc.yaml");
    std::fs::write(&file, SERVICE)?;
    let f = file.to_string_lossy().to_string();

    let out = tokio::task::block_in_place(|| kubectl(&server, home, &["create", "-f", &f]))?;
    assert!(out.contains("service/web created"), "{out}");
    let out =
        tokio::task::block_in_place(|| kubectl(&server, home, &["get", "svc", "-o", "wide"]))?;
    assert!(
        out.contains("web") && out.contains("10.0.0.80") && out.contains("kubernetes"),
        "{out}"
    );
    let ip = tokio::task::block_in_place(|| {
        kubectl(
            &server,
            home,
            &["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"],
        )
    })?;
    assert_eq!(ip, "10.0.0.80");

    // apply twice: the second apply changes the port via a strategic-merge patch.
    tokio::task::block_in_place(|| kubectl(&server, home, &["apply", "-f", &f]))?;
    std::fs::write(&file, SERVICE.replace("port: 80", "port: 8080"))?;
    let out = tokio::task::block_in_place(|| kubectl(&server, home, &["apply", "-f", &f]))?;
    assert!(out.contains("configured"), "{out}");
    let ports = tokio::task::block_in_place(|| {
        kubectl(
            &server,
            home,
            &["get", "svc", "web", "-o", "jsonpath={.spec.ports[*].port}"],
        )
    })?;
    assert_eq!(ports, "8080");

    tokio::task::block_in_place(|| {
        kubectl(
            &server,
            home,
            &[
                "patch",
                "svc",
                "web",
                "--type=merge",
                "-p",
                r#"{"metadata":{"labels":{"patched":"yes"}}}"#,
            ],
        )
    })?;
    let labels = tokio::task::block_in_place(|| {
        kubectl(
            &server,
            home,
            &[
                "get",
                "svc",
                "web",
                "-o",
                "jsonpath={.metadata.labels.patched}",
            ],
        )
    })?;
    assert_eq!(labels, "yes");
    let slices = tokio::task::block_in_place(|| {
        kubectl(&server, home, &["get", "endpointslices", "-n", "default"])
    })?;
    assert!(slices.contains("kubernetes"), "{slices}");

    // get -w sees a change made while it runs.
    let spec = ProcessSpec::new("kubectl-watch", kubectl_path())
        .args([
            format!("--server={server}"),
            "get".into(),
            "configmaps".into(),
            "-n".into(),
            "default".into(),
            "-w".into(),
            "--output-watch-events".into(),
        ])
        .env("HOME", home)
        .env("KUBECONFIG", home.join("no-kubeconfig"));
    let watch = ChildProcess::spawn(spec, home)?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cm = home.join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n  namespace: default\ndata:\n  a: b\n",
    )?;
    let cm = cm.to_string_lossy().to_string();
    tokio::task::block_in_place(|| kubectl(&server, home, &["create", "-f", &cm]))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !watch.log().contains("watched") {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "kubectl get -w did not report the new ConfigMap; log:\n{}",
            watch.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(watch.log().contains("ADDED"), "{}", watch.log());
    drop(watch);

    let out = tokio::task::block_in_place(|| kubectl(&server, home, &["delete", "-f", &f]))?;
    assert!(out.contains("deleted"), "{out}");
    let gone = Command::new(kubectl_path())
        .arg(format!("--server={server}"))
        .args(["get", "svc", "web"])
        .env("HOME", home)
        .output()?;
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    Ok(())
}

/// kubectl's imperative commands, as users type them: the generators POST protobuf bodies
/// (decoded with k8s-pb), `expose` reads a Pod and POSTs a Service, `edit` PATCHes what the
/// editor changed, `delete` by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_imperative_commands() -> anyhow::Result<()> {
    serverkit::require!(kubectl_need());
    let emu = Emulator::start(EmulatorConfig::default()).await?;
    let server = emu.url();
    let dir = tempfile::tempdir()?;
    let home = dir.path();
    let k = |args: &[&str]| tokio::task::block_in_place(|| kubectl(&server, home, args));

    assert!(k(&["create", "namespace", "imp"])?.contains("namespace/imp created"));
    let out = k(&[
        "-n",
        "imp",
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
    ])?;
    assert!(out.contains("service/web created"), "{out}");
    let port = k(&[
        "-n",
        "imp",
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.ports[0].targetPort}",
    ])?;
    assert_eq!(port, "8080");
    let out = k(&[
        "-n",
        "imp",
        "create",
        "configmap",
        "cfg",
        "--from-literal=federations=f=example.com",
    ])?;
    assert!(out.contains("configmap/cfg created"), "{out}");

    // edit: the "editor" rewrites the value; kubectl sends the difference as a patch.
    let out = Command::new(kubectl_path())
        .arg(format!("--server={server}"))
        .args(["-n", "imp", "edit", "configmap", "cfg"])
        .env("HOME", home)
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .env("KUBE_EDITOR", "sed -i s/f=example.com/f=example.org/")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = k(&[
        "-n",
        "imp",
        "get",
        "cm",
        "cfg",
        "-o",
        "jsonpath={.data.federations}",
    ])?;
    assert_eq!(data, "f=example.org");

    emu.create(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "imp", "labels": {"run": "p"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]}}))?;
    let out = k(&[
        "-n",
        "imp",
        "expose",
        "pod",
        "p",
        "--port=53",
        "--name=p-svc",
    ])?;
    assert!(out.contains("service/p-svc exposed"), "{out}");
    let sel = k(&[
        "-n",
        "imp",
        "get",
        "svc",
        "p-svc",
        "-o",
        "jsonpath={.spec.selector.run}",
    ])?;
    assert_eq!(sel, "p");

    assert!(k(&["-n", "imp", "delete", "service", "web"])?.contains("deleted"));
    Ok(())
}
