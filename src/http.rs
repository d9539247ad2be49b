//! The one HTTP client stack: reqwest on rustls, with ring as the one TLS
//! provider. Floor 1 (`input`): what comes over HTTP is outside input;
//! imports the core only.
//!
//! Every HTTP read regtool makes goes through [`client`] (`mirror`'s upstream,
//! `doctor`'s probes); the S3 backend's client (object_store, on the same
//! reqwest and rustls) only needs [`install_tls_provider`] before it is built.
//! Certificates are checked against the system's trust store
//! (rustls-platform-verifier: the CA bundle at the usual places, or
//! `SSL_CERT_FILE`), as cargo does, so that it works offline and trusts a
//! TLS-inspecting proxy's root added there.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Installs ring as the process's default rustls provider, once; every
/// rustls client (reqwest's, object_store's) built afterwards uses it.
/// Calling it again does nothing.
pub(crate) fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // `Err` when a provider is installed already: that one stays, and
        // only regtool installs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The HTTP client regtool reads registries with (`mirror`'s upstream,
/// `doctor`'s probes), blocking (each call waits on reqwest's own runtime
/// thread; share one client between threads):
/// - HTTP error statuses are answers, not errors (the caller reads the status);
/// - TLS with ring, checked against the system's trust store (see the module docs);
/// - proxies from the standard environment (`HTTPS_PROXY`, `HTTP_PROXY`,
///   `ALL_PROXY`, `NO_PROXY`, lowercase too);
/// - `timeout` bounds connecting plus waiting for the answer's head, and each
///   read of its body;
/// - up to 10 redirects followed, with no `Referer` and, across hosts, no
///   `Authorization`;
/// - `User-Agent: regtool/VERSION (purpose)`;
/// - bodies as sent (no transparent decompression).
///
/// `for_url` names the registry in the error.
///
/// # Errors
/// [`Error::Config`] naming `for_url` when the client cannot be set up (the
/// system's trust store cannot be read).
pub(crate) fn client(
    timeout: Duration,
    purpose: &str,
    for_url: &str,
) -> Result<reqwest::blocking::Client> {
    install_tls_provider();
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .referer(false)
        .user_agent(format!("regtool/{} ({purpose})", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Config {
            path: PathBuf::from(for_url),
            message: format!("cannot set up the HTTP client: {}", chain(&e)),
        })
}

/// `e` and its causes on one line, `: `-separated (reqwest's own `Display`
/// says only the outermost, such as "error sending request").
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

/// How long one HTTP transfer may take: cargo's `http.timeout` and
/// `http.low-speed-limit`, plus a deadline for the whole request. Source:
/// <https://doc.rust-lang.org/cargo/reference/config.html#httptimeout>,
/// <https://doc.rust-lang.org/cargo/reference/config.html#httplow-speed-limit>.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pace {
    /// Longest wait for connecting, for the answer's head and for each read
    /// of its body; also the window over which `low_speed_limit` is averaged
    /// (cargo's `http.timeout`, 30 s by default).
    pub(crate) timeout: Duration,
    /// Fewest bytes per second, averaged over `timeout`, below which a body
    /// is abandoned (cargo's `http.low-speed-limit`, 10 by default; 0: none).
    pub(crate) low_speed_limit: u64,
    /// Longest time from sending a request to its body's last byte (checked
    /// between reads, each of which waits at most `timeout`).
    pub(crate) deadline: Duration,
}

/// Cargo's `http.timeout` default, in seconds.
pub(crate) const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Cargo's `http.low-speed-limit` default, in bytes per second.
pub(crate) const DEFAULT_LOW_SPEED_LIMIT: u64 = 10;
/// The default deadline of one request, in seconds (a 10 MiB `.crate` at
/// 18 KiB/s).
pub(crate) const DEFAULT_DEADLINE_SECS: u64 = 600;

impl Default for Pace {
    fn default() -> Self {
        Pace {
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            low_speed_limit: DEFAULT_LOW_SPEED_LIMIT,
            deadline: Duration::from_secs(DEFAULT_DEADLINE_SECS),
        }
    }
}

/// Why a [`Paced`] read stopped a transfer: it was too slow. Carried inside
/// the `io::Error` ([`std::io::ErrorKind::TimedOut`]) it returns; see
/// [`too_slow`].
#[derive(Debug)]
pub(crate) struct TooSlow(String);

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TooSlow {}

/// The [`TooSlow`] inside `e`, if a [`Paced`] read returned it.
pub(crate) fn too_slow(e: &std::io::Error) -> Option<&TooSlow> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TooSlow>())
}

/// A body read under a [`Pace`]: fails with [`TooSlow`] once the request's
/// deadline has passed, or when fewer than `low_speed_limit` bytes per
/// second arrived over the last `timeout` (as curl's low-speed limit, which
/// cargo sets from the same settings).
#[derive(Debug)]
pub(crate) struct Paced<R> {
    inner: R,
    pace: Pace,
    /// When the request was sent.
    sent: Instant,
    /// Start of the current low-speed window, and the bytes read in it.
    window: Instant,
    window_bytes: u64,
}

impl<R> Paced<R> {
    /// Reads `inner`, the body of a request sent at `sent`, under `pace`.
    pub(crate) fn new(inner: R, pace: Pace, sent: Instant) -> Paced<R> {
        Paced {
            inner,
            pace,
            sent,
            window: Instant::now(),
            window_bytes: 0,
        }
    }

    /// The reader inside (an answer, for its headers).
    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    fn check(&mut self, now: Instant) -> std::io::Result<()> {
        let fail = |m: String| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                TooSlow(m),
            ))
        };
        if now.duration_since(self.sent) > self.pace.deadline {
            return fail(format!(
                "the answer took longer than the deadline of {} s",
                self.pace.deadline.as_secs_f64()
            ));
        }
        let spent = now.duration_since(self.window);
        if spent >= self.pace.timeout && !self.pace.timeout.is_zero() {
            let floor = u128::from(self.pace.low_speed_limit) * spent.as_millis() / 1000;
            if u128::from(self.window_bytes) < floor {
                return fail(format!(
                    "the answer came slower than the low-speed limit of {} bytes/s ({} bytes in the last {:.1} s)",
                    self.pace.low_speed_limit,
                    self.window_bytes,
                    spent.as_secs_f64()
                ));
            }
            self.window = now;
            self.window_bytes = 0;
        }
        Ok(())
    }
}

impl<R: Read> Read for Paced<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check(Instant::now())?;
        let n = self.inner.read(buf)?;
        self.window_bytes += n as u64;
        if n > 0 {
            self.check(Instant::now())?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives one byte per read, waiting `gap` before each.
    struct Drip(Duration);

    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_dripping_body_is_abandoned_after_one_window() {
        let pace = Pace {
            timeout: Duration::from_millis(200),
            low_speed_limit: 100,
            deadline: Duration::from_secs(60),
        };
        let start = Instant::now();
        let mut r = Paced::new(Drip(Duration::from_millis(20)), pace, start);
        let e = std::io::copy(&mut r, &mut std::io::sink()).unwrap_err();
        assert!(too_slow(&e).is_some(), "{e}");
        assert!(
            e.to_string().contains("low-speed limit of 100 bytes/s"),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn the_deadline_stops_a_fast_enough_body() {
        let pace = Pace {
            timeout: Duration::from_secs(60),
            low_speed_limit: 1,
            deadline: Duration::from_millis(200),
        };
        let start = Instant::now();
        let mut r = Paced::new(Drip(Duration::from_millis(5)), pace, start);
        let e = std::io::copy(&mut r, &mut std::io::sink()).unwrap_err();
        assert!(e.to_string().contains("deadline"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_body_at_the_limit_goes_through() {
        let pace = Pace {
            timeout: Duration::from_millis(100),
            low_speed_limit: 10,
            deadline: Duration::from_secs(60),
        };
        let mut r = Paced::new(
            Read::take(Drip(Duration::from_millis(5)), 60),
            pace,
            Instant::now(),
        );
        assert_eq!(std::io::copy(&mut r, &mut std::io::sink()).unwrap(), 60);
    }
}
