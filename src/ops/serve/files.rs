//! The registry's files over HTTP, read-only: `config.json`, index files,
//! `.crate` files and the catalogue, with `ETag` and `304`, so that one
//! `serve` is a whole registry for a small team. Part of [`super`] (floor 5).
//!
//! A URL path becomes a registry key only when every component is a plain
//! name: nothing empty, `.`, `..`, percent-encoded or starting with `.` (so
//! nothing of `.regtool/` is ever served); anything else is a 404 that says
//! no more. Source of the exchange: the sparse protocol,
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol>.

/// The registry key a URL path names, if it may be served: `/` is the
/// catalogue's `index.html`.
pub(crate) fn key_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some("index.html".to_owned());
    }
    let plain = |c: &str| {
        !c.is_empty()
            && !c.starts_with('.')
            && c.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b'\\' | b'?' | b'#'))
    };
    rest.split('/').all(plain).then(|| rest.to_owned())
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
        for bad in [
            "/.regtool/nginx-tokens.map",
            "/.regtool/owners/foo.json",
            "/crates/../.regtool/lock",
            "/a//b",
            "/./config.json",
            "/%2e%2e/x",
            "/a\\b",
            "relative",
            "/crates/.hidden",
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
