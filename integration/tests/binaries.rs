//! The crate's binaries as processes: `sandbox --exit-after-ready` (the whole stack comes up
//! and answers; skipped with a message until the workspace binaries are built). The
//! `kube-apiserver-emulator` binary has its own test in the `kube-emulator` crate.

use std::process::Command;

use integration::harness::bins::skip_without_binaries;

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
