//! Acting on the running cluster as the admin: the built kubectl (plain, checked, with
//! stdin), applying fixtures, registering the test Node, doing a scheduler's and kubelet's
//! part for fixture Pods, and adding ServiceCIDRs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{CONTROLLERS_READY_TIMEOUT, ControlPlane, Identity, TEST_NODE, TEST_REGION, TEST_ZONE};

impl ControlPlane {
    /// The built kubectl with the admin's kubeconfig, to add arguments (and environment) to.
    pub fn kubectl_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(self.bins.path("kubectl"));
        cmd.arg(format!(
            "--kubeconfig={}",
            self.kubeconfig(Identity::Admin).display()
        ));
        cmd
    }

    /// Runs the built kubectl as the admin; returns its output (whatever the exit status).
    pub fn kubectl<I, S>(&self, args: I) -> std::io::Result<std::process::Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.kubectl_command().args(args).output()
    }

    /// [`Self::kubectl`] that fails unless kubectl exits 0; returns stdout.
    pub fn kubectl_ok<I, S>(&self, args: I) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.kubectl(&args)?;
        if !out.status.success() {
            bail!(
                "kubectl {:?} failed ({}): {}",
                args,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply -f -` with `yaml` (or JSON) on stdin, as the admin.
    pub fn kubectl_apply(&self, yaml: &str) -> anyhow::Result<String> {
        self.kubectl_stdin(["apply", "-f", "-"], yaml)
    }

    /// Runs kubectl as the admin with `input` on stdin; fails unless it exits 0.
    pub fn kubectl_stdin<I, S>(&self, args: I, input: &str) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        use std::io::Write as _;
        use std::process::Stdio;
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = self
            .kubectl_command()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("kubectl stdin")?
            .write_all(input.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kubectl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply -f path` (a fixture file), then for every Pod in it whose manifest
    /// carries `status.podIP` (which a create ignores) [`Self::schedule_and_ready`]: fixtures
    /// written for the emulator become real cluster state, Endpoints and EndpointSlices coming
    /// from the controllers.
    pub fn apply_fixture(&self, path: &Path) -> anyhow::Result<()> {
        self.kubectl_ok(["apply", "-f", &path.display().to_string()])
            .with_context(|| format!("applying {}", path.display()))?;
        let text = std::fs::read_to_string(path)?;
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        for doc in docs {
            if doc["kind"] == "Pod"
                && let Some(ip) = doc["status"]["podIP"].as_str()
            {
                let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
                let name = doc["metadata"]["name"].as_str().unwrap_or_default();
                self.schedule_and_ready(ns, name, ip)?;
            }
        }
        Ok(())
    }

    /// Creates the Node `name` (what a kubelet registers) with zone/region labels, if absent.
    pub fn ensure_node(&self, name: &str) -> anyhow::Result<()> {
        self.kubectl_apply(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    \
             topology.kubernetes.io/zone: {TEST_ZONE}\n    topology.kubernetes.io/region: {TEST_REGION}\n"
        ))?;
        Ok(())
    }

    /// Does for an existing Pod what the scheduler and a kubelet would: binds it to
    /// [`TEST_NODE`] (the `binding` subresource) and reports it Running and Ready with `ip`
    /// (the `status` subresource), so the endpoint controllers include it.
    pub fn schedule_and_ready(&self, ns: &str, pod: &str, ip: &str) -> anyhow::Result<()> {
        self.ensure_node(TEST_NODE)?;
        let bound = self.kubectl_ok([
            "-n",
            ns,
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.spec.nodeName}",
        ])?;
        if bound.trim().is_empty() {
            let binding = format!(
                r#"{{"apiVersion":"v1","kind":"Binding","metadata":{{"name":"{pod}"}},"target":{{"apiVersion":"v1","kind":"Node","name":"{TEST_NODE}"}}}}"#
            );
            self.kubectl_stdin(
                [
                    "create",
                    "--raw",
                    &format!("/api/v1/namespaces/{ns}/pods/{pod}/binding"),
                    "-f",
                    "-",
                ],
                &binding,
            )?;
        }
        let status = format!(
            r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
        );
        self.kubectl_ok([
            "-n",
            ns,
            "patch",
            "pod",
            pod,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])?;
        Ok(())
    }

    /// Adds a Service IP range as a `networking.k8s.io/v1` ServiceCIDR object (GA since 1.33),
    /// e.g. for fixtures whose ClusterIPs lie outside [`SERVICE_CIDR`], and waits until the
    /// allocator reports it ready.
    pub async fn add_service_cidr(&self, name: &str, cidr: &str) -> anyhow::Result<()> {
        self.kubectl_apply(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata:\n  name: {name}\n\
             spec:\n  cidrs:\n  - {cidr}\n"
        ))?;
        let start = Instant::now();
        loop {
            let status = self.kubectl_ok([
                "get",
                "servicecidr",
                name,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ])?;
            if status.trim() == "True" {
                return Ok(());
            }
            if start.elapsed() > CONTROLLERS_READY_TIMEOUT {
                bail!("ServiceCIDR {name} ({cidr}) not ready: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
