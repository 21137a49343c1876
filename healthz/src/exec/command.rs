//! exechealthz commands. `nslookup <name> <server>[:<port>] >/dev/null` clauses joined by
//! `&&` are recognised and run natively as DNS probes (A query; success = NOERROR with
//! ≥1 answer RR, like busybox `nslookup`), so images need no shell. Anything else runs
//! via `sh -c` with a timeout; stdout then stderr is captured (capped).

use std::process::Stdio;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::dns::{ServerAddr, SharedExchanger, build_query};

/// Largest command output kept (the rest is read and discarded).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// One native `nslookup` clause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsLookup {
    /// Name as written.
    pub name: String,
    /// Fully-qualified query name.
    pub qname: Name,
    /// DNS server (port 53 unless given).
    pub server: ServerAddr,
}

/// How a `-cmd` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeCommand {
    /// Native DNS lookups, all of which must succeed (`&&`).
    Native(Vec<NsLookup>),
    /// `sh -c <command>`.
    Shell(String),
}

/// Result of one run: captured output and the Go-style error (`exit status 1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Captured output.
    pub output: String,
    /// `None` on success.
    pub err: Option<String>,
}

/// Classifies a command string.
pub fn parse_command(cmd: &str) -> ProbeCommand {
    let clauses: Option<Vec<NsLookup>> = cmd.split("&&").map(parse_nslookup).collect();
    match clauses {
        Some(c) if !c.is_empty() => ProbeCommand::Native(c),
        _ => ProbeCommand::Shell(cmd.to_string()),
    }
}

fn parse_server(s: &str) -> Option<ServerAddr> {
    if s.starts_with('[') || s.matches(':').count() == 1 {
        return ServerAddr::parse(s).ok();
    }
    // Bare IPv4/IPv6 literal or host name: port 53.
    if s.is_empty()
        || s.chars()
            .any(|c| !(c.is_ascii_alphanumeric() || ".-:_".contains(c)))
    {
        return None;
    }
    Some(ServerAddr {
        host: s.to_string(),
        port: 53,
    })
}

/// `nslookup <name> <server> >/dev/null` (also `> /dev/null`, `1>/dev/null`, optionally
/// followed by `2>&1` or `2>/dev/null`); `None` if the clause has any other shape.
fn parse_nslookup(clause: &str) -> Option<NsLookup> {
    let tokens: Vec<&str> = clause.split_whitespace().collect();
    let [cmd, name, server, redir @ ..] = tokens.as_slice() else {
        return None;
    };
    if *cmd != "nslookup" {
        return None;
    }
    let redir = redir.join(" ");
    let ok_redirs = [
        ">/dev/null",
        "> /dev/null",
        "1>/dev/null",
        ">/dev/null 2>&1",
        "> /dev/null 2>&1",
        ">/dev/null 2>/dev/null",
    ];
    if !ok_redirs.contains(&redir.as_str()) {
        return None;
    }
    if name.starts_with('-') || name.chars().any(|c| "'\"`$;|&<>(){}*?\\".contains(c)) {
        return None;
    }
    let server = parse_server(server)?;
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let qname = Name::from_ascii(&fqdn).ok()?;
    Some(NsLookup {
        name: name.to_string(),
        qname,
        server,
    })
}

/// Runs `cmd`, bounded by `timeout`.
pub async fn run_command(
    cmd: &ProbeCommand,
    exchanger: &SharedExchanger,
    timeout: Duration,
) -> Outcome {
    match cmd {
        ProbeCommand::Native(lookups) => {
            match tokio::time::timeout(timeout, run_native(lookups, exchanger)).await {
                Ok(o) => o,
                Err(_) => Outcome {
                    output: String::new(),
                    err: Some(format!("timed out after {timeout:?}")),
                },
            }
        }
        ProbeCommand::Shell(c) => run_shell(c, timeout).await,
    }
}

async fn run_native(lookups: &[NsLookup], exchanger: &SharedExchanger) -> Outcome {
    for l in lookups {
        let query = build_query(&l.qname, RecordType::A, DNSClass::IN);
        let failure = match exchanger.exchange(&l.server, query).await {
            Err(e) => Some(format!(
                ";; connection timed out; no servers could be reached ({e})"
            )),
            Ok(reply) if reply.metadata.response_code != ResponseCode::NoError => Some(format!(
                "** server can't find {}: {}",
                l.name,
                rcode_name(reply.metadata.response_code)
            )),
            Ok(reply) if reply.answers.is_empty() => {
                Some(format!("*** Can't find {}: No answer", l.name))
            }
            Ok(_) => None,
        };
        if let Some(msg) = failure {
            return Outcome {
                output: format!("{msg}\nnslookup: can't resolve '{}'\n", l.name),
                err: Some("exit status 1".into()),
            };
        }
    }
    Outcome {
        output: String::new(),
        err: None,
    }
}

/// Mnemonic as printed by busybox/bind `nslookup` (RFC 1035 §4.1.1, RFC 6895 §2.3).
fn rcode_name(rc: ResponseCode) -> String {
    match u16::from(rc) {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE{n}"),
    }
}

async fn read_capped<R: AsyncRead + Unpin>(reader: Option<R>) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(mut r) = reader else { return out };
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

async fn run_shell(cmd: &str, timeout: Duration) -> Outcome {
    let spawned = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                output: String::new(),
                err: Some(format!("exec: \"sh\": {e}")),
            };
        }
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let run = async {
        let (out, err, status) =
            tokio::join!(read_capped(stdout), read_capped(stderr), child.wait());
        (out, err, status)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((mut out, err, status)) => {
            out.extend_from_slice(&err);
            out.truncate(MAX_OUTPUT_BYTES);
            let output = String::from_utf8_lossy(&out).into_owned();
            let err = match status {
                Ok(s) if s.success() => None,
                Ok(s) => Some(exit_text(s)),
                Err(e) => Some(format!("wait: {e}")),
            };
            Outcome { output, err }
        }
        Err(_) => {
            // Dropping the future dropped the child handle (kill_on_drop); reap explicitly.
            let _ = child.start_kill();
            let _ = child.wait().await;
            Outcome {
                output: String::new(),
                err: Some(format!("signal: killed (timed out after {timeout:?})")),
            }
        }
    }
}

fn exit_text(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("signal: {sig}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_legacy_nslookup_commands() {
        let c = parse_command(
            "nslookup kubernetes.default.svc.cluster.local 127.0.0.1 >/dev/null && nslookup kubernetes.default.svc.cluster.local 127.0.0.1:10053 >/dev/null",
        );
        let ProbeCommand::Native(l) = c else {
            panic!("not native: {c:?}")
        };
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0].server,
            ServerAddr {
                host: "127.0.0.1".into(),
                port: 53
            }
        );
        assert_eq!(l[1].server.port, 10053);
        assert_eq!(
            l[0].qname.to_ascii(),
            "kubernetes.default.svc.cluster.local."
        );
        let c = parse_command("nslookup a.b [::1]:5353 > /dev/null 2>&1");
        assert!(matches!(c, ProbeCommand::Native(ref l) if l[0].server.port == 5353));
        let c = parse_command("nslookup a.b ::1 >/dev/null");
        assert!(matches!(c, ProbeCommand::Native(ref l) if l[0].server.host == "::1"));
    }

    #[test]
    fn other_commands_use_the_shell() {
        for cmd in [
            "echo healthz",
            "nslookup a.b 127.0.0.1",
            "nslookup a.b >/dev/null",
            "nslookup a.b 127.0.0.1 >/dev/null || true",
            "nslookup a.b 127.0.0.1 >/dev/null; rm -rf x",
            "nslookup $(x) 127.0.0.1 >/dev/null",
            "nslookup -type=A a.b 127.0.0.1 >/dev/null",
            "nslookup a.b 127.0.0.1 >/tmp/out",
            "",
        ] {
            assert!(
                matches!(parse_command(cmd), ProbeCommand::Shell(_)),
                "{cmd:?} should use the shell"
            );
        }
    }
}
