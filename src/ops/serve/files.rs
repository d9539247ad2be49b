//! The registry's files over HTTP, read-only: `config.json`, index files,
//! `.crate` files and the catalogue, with `ETag` and `304`, so that one
//! `serve` is a whole registry for a small team. Part of [`super`] (floor 5).
//!
//! A URL path becomes a registry key only when it names one of the files
//! a registry publishes, as `regtool nginx-config` serves them (an allow
//! list): `config.json`, an index file's prefix path, a `.crate` under
//! `crates/`, and the catalogue (`index.html`, its pages, script, style
//! sheet and search data, `feed.atom`); every component a plain name
//! (nothing empty, `.`, `..`, percent-encoded or starting with `.`, so
//! nothing of `.regtool/` is ever served). Anything else (an operator's own
//! file in the folder, a folder) is a 404 that says no more. Files up to
//! [`WHOLE`] bytes are read whole (their `ETag` a digest of their bytes);
//! larger ones are streamed ([`stream`]) so that a download holds a few
//! chunks in memory, whatever its size. Source of the exchange: the sparse
//! protocol,
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol>.

use axum::body::{Body, Bytes};
use std::io::Read;
use std::time::Duration;

/// Files up to this size (bytes) are read whole, larger ones streamed.
pub(crate) const WHOLE: u64 = 256 * 1024;
/// Size of a streamed chunk (bytes).
const CHUNK: usize = 64 * 1024;
/// Longest time a client may take to accept the next chunk of a streamed
/// file before its connection is dropped (a client that reads nothing).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest URL path served (bytes); a longer one is a 404.
const MAX_PATH: usize = 512;

/// The registry key a URL path names, if it is one of the files a registry
/// publishes (see the module docs): `/` is the catalogue's `index.html`.
pub(crate) fn key_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some("index.html".to_owned());
    }
    if rest.len() > MAX_PATH {
        return None;
    }
    let plain = |c: &str| {
        !c.is_empty()
            && !c.starts_with('.')
            && c.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b'\\' | b'?' | b'#'))
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if !parts.iter().all(|c| plain(c)) {
        return None;
    }
    // The characters of an index file's prefix path (cargo lowercases it).
    let index = |c: &str, len: Option<usize>| {
        len.map_or(c.len() >= 4, |l| c.len() == l)
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
    };
    let page = |c: &str| {
        c.strip_suffix(".html").is_some_and(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        })
    };
    let published = match parts.as_slice() {
        ["config.json" | "index.html" | "feed.atom"] => true,
        ["catalogue", "style.css" | "search.js" | "search-index.js"] => true,
        ["catalogue", "crates", p] => page(p),
        ["crates", _, file] => file.ends_with(".crate"),
        ["1", n] => index(n, Some(1)),
        ["2", n] => index(n, Some(2)),
        ["3", a, n] => index(a, Some(1)) && index(n, Some(3)),
        [a, b, n] => index(a, Some(2)) && index(b, Some(2)) && index(n, None),
        _ => false,
    };
    published.then(|| rest.to_owned())
}

/// The `ETag` of a file too large to read whole: a digest of its size and
/// its storage revision (which changes with its bytes).
pub(crate) fn etag_of_meta(meta: &crate::storage::Meta) -> String {
    etag(format!("{}:{}", meta.size, meta.revision.0).as_bytes())
}

/// A response body that streams `reader` in chunks of 64 KiB, read on the
/// blocking pool; at most two chunks wait for the client, and a client that
/// takes none for 30 s has its connection dropped (the body ends short of
/// its `Content-Length`). Call from within the server's runtime.
pub(crate) fn stream(reader: Box<dyn Read + Send>) -> Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    tokio::spawn(async move {
        let mut reader = reader;
        loop {
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0; CHUNK];
                let n = reader.read(&mut buf);
                (
                    reader,
                    n.map(|n| {
                        buf.truncate(n);
                        buf
                    }),
                )
            })
            .await;
            let Ok((back, chunk)) = read else { return };
            reader = back;
            let chunk = match chunk {
                Ok(c) if c.is_empty() => return,
                Ok(c) => Ok(Bytes::from(c)),
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            if tx.send_timeout(chunk, SEND_TIMEOUT).await.is_err() || failed {
                return;
            }
        }
    });
    let chunks = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(chunks)
}

/// The `Content-Type` of a key.
pub(crate) fn content_type(key: &str) -> &'static str {
    let ext = key.rsplit_once('.').map(|(_, e)| e);
    match ext {
        Some("json") => "application/json",
        Some("crate") => "application/gzip",
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("atom") => "application/atom+xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// The `ETag` of some bytes: a quoted prefix of their SHA-256.
pub(crate) fn etag(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(bytes);
    format!("\"{}\"", crate::crate_file::hex(&d[..16]))
}

/// Whether an `If-None-Match` value names `etag` (or is `*`).
pub(crate) fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_become_keys() {
        assert_eq!(key_of("/config.json").as_deref(), Some("config.json"));
        assert_eq!(key_of("/se/rd/serde").as_deref(), Some("se/rd/serde"));
        assert_eq!(
            key_of("/crates/foo/foo-1.0.0+build.crate").as_deref(),
            Some("crates/foo/foo-1.0.0+build.crate")
        );
        assert_eq!(key_of("/").as_deref(), Some("index.html"));
        for good in [
            "/1/a",
            "/2/ab",
            "/3/a/abc",
            "/index.html",
            "/feed.atom",
            "/catalogue/style.css",
            "/catalogue/search-index.js",
            "/catalogue/crates/foo-bar.html",
        ] {
            assert_eq!(key_of(good).as_deref(), Some(&good[1..]), "{good}");
        }
        for bad in [
            "/notes.txt",
            "/config.json.bak",
            "/crates/foo",
            "/crates/foo/notes.txt",
            "/se/rd",
            "/Se/rd/serde",
            "/3/a/ab",
            "/catalogue/crates",
            "/catalogue/other.js",
            "/.regtool/nginx-tokens.map",
            "/.regtool/owners/foo.json",
            "/crates/../.regtool/lock",
            "/a//b",
            "/./config.json",
            "/%2e%2e/x",
            "/a\\b",
            "relative",
            "/crates/.hidden",
            &format!("/{}", "a/".repeat(300)),
        ] {
            assert_eq!(key_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn etags_match_as_http_says() {
        let e = etag(b"x");
        assert!(matches(&e, &e));
        assert!(matches(&format!("\"other\", W/{e}"), &e));
        assert!(matches("*", &e));
        assert!(!matches("\"other\"", &e));
    }
}
