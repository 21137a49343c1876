//! Child processes with captured logs and kill-on-drop. Each child runs in its own process
//! group with stdout+stderr appended to a log file; dropping the handle kills the whole group
//! (SIGKILL) and reaps it, printing the log tail when the drop happens during a panic. On
//! Linux the child also gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies if the spawning thread's
//! process is killed outright. Spawn from the test's own thread (not a `spawn_blocking` pool
//! thread, whose exit would trigger the death signal).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Lines of log printed when a child is dropped during a panic.
pub const LOG_TAIL_LINES: usize = 60;
/// Poll period while waiting for a child to exit after SIGTERM.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Short name used in messages and the log file name.
    pub name: String,
    /// Program path.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<OsString>,
    /// Extra environment.
    pub env: Vec<(OsString, OsString)>,
}

impl ProcessSpec {
    /// A spec for `program` named `name`.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        ProcessSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// Errors spawning a child.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The log file could not be created.
    #[error("creating log file {path}: {source}")]
    Log {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("starting `{command}`: {source}")]
    Spawn {
        /// Command line.
        command: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A running child; killed (with its process group) when dropped.
pub struct ChildProcess {
    spec: ProcessSpec,
    child: Option<Child>,
    log_path: PathBuf,
}

#[allow(unsafe_code)]
mod sys {
    //! The only unsafe code of the crate: two libc calls with no memory effects.

    /// Asks the kernel to SIGKILL the calling process when its parent dies. Runs in the
    /// forked child before exec; `prctl` is async-signal-safe.
    pub fn set_parent_death_signal() -> std::io::Result<()> {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes integer arguments only and touches no memory.
        let r = unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Sends `sig` to process group `pgid`.
    pub fn kill_group(pgid: u32, sig: libc::c_int) {
        let Ok(pgid) = libc::pid_t::try_from(pgid) else {
            return;
        };
        // SAFETY: kill(2) takes integers only; a negative pid addresses the process group.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

impl ChildProcess {
    /// Starts `spec`, logging to `<log_dir>/<name>.log`.
    pub fn spawn(spec: ProcessSpec, log_dir: &Path) -> Result<Self, SpawnError> {
        let log_path = log_dir.join(format!("{}.log", spec.name));
        let log = File::create(&log_path).map_err(|source| SpawnError::Log {
            path: log_path.clone(),
            source,
        })?;
        let log2 = log.try_clone().map_err(|source| SpawnError::Log {
            path: log_path.clone(),
            source,
        })?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .process_group(0);
        #[allow(unsafe_code)]
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(sys::set_parent_death_signal);
        }
        let child = cmd.spawn().map_err(|source| SpawnError::Spawn {
            command: spec.command_line(),
            source,
        })?;
        tracing::debug!(name = %spec.name, pid = child.id(), command = %spec.command_line(), "spawned");
        Ok(ChildProcess {
            spec,
            child: Some(child),
            log_path,
        })
    }

    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Name given in the spec.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let mut buf = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
            let _ = f.read_to_string(&mut buf);
        }
        let lines: Vec<&str> = buf.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `Some(status)` if the child has exited.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// A description for error messages: command line, exit status, log tail.
    pub fn describe(&mut self) -> String {
        let status = match self.try_exit_status() {
            Some(s) => format!("exited: {s}"),
            None => "running".to_string(),
        };
        format!(
            "{} ({status})\ncommand: {}\nlog {}:\n{}",
            self.spec.name,
            self.spec.command_line(),
            self.log_path.display(),
            self.log_tail(LOG_TAIL_LINES)
        )
    }

    /// Sends `sig` (e.g. `libc::SIGHUP`) to the child's process group.
    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            sys::kill_group(pid, sig);
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(s)) = child.try_wait() {
            sys::kill_group(child.id(), libc::SIGKILL);
            return Some(s);
        }
        sys::kill_group(child.id(), libc::SIGTERM);
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(s)) = child.try_wait() {
                sys::kill_group(child.id(), libc::SIGKILL);
                return Some(s);
            }
            std::thread::sleep(EXIT_POLL);
        }
        sys::kill_group(child.id(), libc::SIGKILL);
        let _ = child.kill();
        child.wait().ok()
    }

    /// SIGKILL now and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            sys::kill_group(child.id(), libc::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            let d = self.describe();
            eprintln!("---- {} ----\n{d}", self.spec.name);
        }
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_and_kill_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = ProcessSpec::new("sleeper", "/bin/sh")
            .args(["-c", "echo started; echo err >&2; exec sleep 60"]);
        let p = ChildProcess::spawn(spec, dir.path()).expect("spawn");
        let pid = p.pid().expect("pid");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !p.log().contains("err") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(p.log().contains("started"));
        assert!(p.log_tail(1).contains("err"));
        drop(p);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} survived drop"
        );
    }

    #[test]
    fn stop_reports_exit_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut p = ChildProcess::spawn(
            ProcessSpec::new("t", "/bin/sh").args(["-c", "exit 3"]),
            dir.path(),
        )
        .expect("spawn");
        std::thread::sleep(Duration::from_millis(100));
        let s = p.stop(Duration::from_secs(1)).expect("status");
        assert_eq!(s.code(), Some(3));
        let err = ChildProcess::spawn(
            ProcessSpec::new("missing", "/nonexistent/program"),
            dir.path(),
        )
        .err()
        .expect("error");
        assert!(err.to_string().contains("/nonexistent/program"));
    }
}
