//! Test support for tests that run a built binary: a child killed and reaped on drop (no test
//! leaves a process behind, even when it panics), signals sent by name, and waiting for the
//! exit with a deadline.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How often [`ChildGuard::wait_timeout`] polls the child.
pub const EXIT_POLL: Duration = Duration::from_millis(20);

/// A child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// Sends `signal` (a name such as `TERM`, `INT`, `USR1`) with kill(1); true when it was
    /// delivered.
    pub fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.0.id().to_string())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The exit status once the child has exited, or `None` after `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(EXIT_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_and_wait() {
        let Ok(child) = Command::new("sleep").arg("30").spawn() else {
            return; // no sleep(1): nothing to exercise
        };
        let mut g = ChildGuard(child);
        assert_eq!(
            g.wait_timeout(Duration::from_millis(100)),
            None,
            "still running"
        );
        assert!(g.signal("TERM"));
        let status = g.wait_timeout(Duration::from_secs(10)).expect("exited");
        assert!(!status.success(), "killed by SIGTERM");
    }
}
