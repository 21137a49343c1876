//! The crate's binaries as processes: `kube-apiserver-emulator` (serves, loads YAML, stops on
//! SIGTERM) and `sandbox --exit-after-ready` (the whole stack comes up and answers; skipped
//! with a message until the workspace binaries are built).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use integration::harness::bins::skip_without_binaries;
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::wait;

#[tokio::test]
async fn emulator_binary_serves_manifests_and_stops_on_sigterm() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let yaml = dir.path().join("demo.yaml");
    std::fs::write(
        &yaml,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  clusterIP: 10.0.0.42\n  ports:\n  - port: 80\n",
    )?;
    let spec = ProcessSpec::new("emulator", env!("CARGO_BIN_EXE_kube-apiserver-emulator")).args([
        "--bind=127.0.0.1:0".to_string(),
        format!("--manifests={}", yaml.display()),
    ]);
    let mut child = ChildProcess::spawn(spec, dir.path())?;
    let url = wait::until("the listening line", Duration::from_secs(10), || {
        let log = child.log();
        async move {
            Ok::<_, String>(
                log.lines()
                    .find_map(|l| l.strip_prefix("listening on http://").map(str::to_string)),
            )
        }
    })
    .await?;
    let addr: SocketAddr = url.trim().parse()?;
    let body = wait::http_ok(
        addr,
        "/api/v1/namespaces/demo/services/web",
        Duration::from_secs(5),
    )
    .await?;
    let svc: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(svc["spec"]["clusterIP"], "10.0.0.42");
    child.signal(libc::SIGTERM);
    let status = child.stop(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "emulator did not exit cleanly on SIGTERM: {status:?}"
    );
    Ok(())
}

#[test]
fn sandbox_comes_up_and_answers() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--exit-after-ready", "--ephemeral-ports", "--no-build"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sandbox failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("self-check: kubernetes.default.svc.cluster.local. A -> No Error"),
        "{stdout}"
    );
    assert!(stdout.contains("10.0.0.1"), "{stdout}");
    assert!(stdout.contains("dig @127.0.0.1 -p "), "{stdout}");
    Ok(())
}

#[test]
fn sandbox_builds_missing_binaries_with_cargo() -> anyhow::Result<()> {
    // A copy of the sandbox in an empty target dir, with a fake `cargo` that records how it
    // was called and fails: the sandbox must ask for `build --workspace --bins` into its own
    // target directory, and report the failure.
    let dir = tempfile::tempdir()?;
    let profile = dir.path().join("target").join("debug");
    std::fs::create_dir_all(&profile)?;
    let sandbox = profile.join("sandbox");
    std::fs::copy(env!("CARGO_BIN_EXE_sandbox"), &sandbox)?;
    let record = dir.path().join("cargo-call.txt");
    let fake_cargo = dir.path().join("fake-cargo.sh");
    std::fs::write(
        &fake_cargo,
        format!(
            "#!/bin/sh\necho \"$@ target=$CARGO_TARGET_DIR\" > {}\nexit 1\n",
            record.display()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_cargo, std::fs::Permissions::from_mode(0o755))?;
    let out = Command::new(&sandbox)
        .args(["--exit-after-ready", "--ephemeral-ports"])
        .env("CARGO", &fake_cargo)
        .env_remove("KUBE_DNS_RS_BIN_DIR")
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cargo build --workspace --bins failed"),
        "{stderr}"
    );
    let call = std::fs::read_to_string(&record)?;
    assert_eq!(
        call.trim(),
        format!(
            "build --workspace --bins target={}",
            dir.path().join("target").display()
        )
    );
    // --no-build refuses instead.
    let out = Command::new(&sandbox)
        .args(["--no-build"])
        .env_remove("KUBE_DNS_RS_BIN_DIR")
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing binaries"));
    Ok(())
}
