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
use std::path::PathBuf;
use std::time::Duration;

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
