//! Several `regtool` processes at once: a [`Job`] is one running process
//! whose stderr the test can watch while it runs (to see that it waits for
//! the registry's lock), and stop, resume or kill.

use super::*;
use std::process::ExitStatus;
use std::sync::Condvar;

/// What a running job printed so far, and whether it ended.
#[derive(Default)]
struct Seen {
    stderr: Vec<u8>,
    stderr_closed: bool,
}

/// A `regtool` process running in the background.
pub struct Job {
    /// A name for messages.
    pub name: String,
    child: Child,
    seen: Arc<(Mutex<Seen>, Condvar)>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Job {
    /// Starts `cmd` (stdin closed, stdout and stderr captured).
    pub fn spawn(name: &str, mut cmd: Command) -> Job {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let seen: Arc<(Mutex<Seen>, Condvar)> = Arc::default();
        let stdout = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let s = seen.clone();
        let stderr = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = err.read(&mut buf).unwrap_or(0);
                let (lock, cvar) = &*s;
                let mut seen = lock.lock().unwrap();
                if n == 0 {
                    seen.stderr_closed = true;
                    cvar.notify_all();
                    return;
                }
                seen.stderr.extend_from_slice(&buf[..n]);
                cvar.notify_all();
            }
        });
        Job {
            name: name.to_owned(),
            child,
            seen,
            stdout: Some(stdout),
            stderr: Some(stderr),
            status: None,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.seen.0.lock().unwrap().stderr).into_owned()
    }

    /// Whether it has exited (reaps it if so).
    pub fn exited(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_some()
    }

    /// Waits until it has exited or its stderr says that it waits for the
    /// registry's lock (a line starting `Blocking`, as cargo says it), at
    /// most `timeout`; which of the two (`None`: neither in time).
    pub fn exited_or_blocked(&mut self, timeout: Duration) -> Option<&'static str> {
        let start = Instant::now();
        loop {
            if self.stderr_so_far().contains("Blocking") {
                return Some("blocked");
            }
            if self.exited() {
                // Everything it printed is read once stderr is closed.
                let (lock, cvar) = &*self.seen;
                let seen = lock.lock().unwrap();
                let _ = cvar
                    .wait_timeout_while(seen, Duration::from_secs(5), |s| !s.stderr_closed)
                    .unwrap();
                return Some("exited");
            }
            if start.elapsed() > timeout {
                return None;
            }
            let (lock, cvar) = &*self.seen;
            let seen = lock.lock().unwrap();
            let _ = cvar.wait_timeout(seen, Duration::from_millis(20)).unwrap();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to it with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill(1)");
        assert!(
            status.success() || signal == "KILL",
            "kill -{signal} failed"
        );
    }

    /// SIGKILLs it and reaps it.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        self.finish(Duration::from_secs(30))
    }

    /// Waits for it to exit (SIGKILL after `timeout`, then panics) and
    /// returns what it printed.
    #[track_caller]
    pub fn finish(mut self, timeout: Duration) -> Output {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.status {
                break s;
            }
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "job {} did not exit within {timeout:?}; stderr so far:\n{}",
                    self.name,
                    self.stderr_so_far()
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        let stdout = self.stdout.take().expect("once").join().unwrap_or_default();
        let _ = self.stderr.take().expect("once").join();
        Output {
            status,
            stdout,
            stderr: std::mem::take(&mut self.seen.0.lock().unwrap().stderr),
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.status.is_none() && self.stdout.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
