//! `regtool nginx-config`: an nginx `server` block that serves the registry.
//! Floor 5 (`commands`).
//!
//! The block serves only what cargo asks for (sources:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol>
//! and, for tokens,
//! <https://doc.rust-lang.org/cargo/reference/registry-authentication.html> and
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-authentication>):
//!
//! - `config.json` as `application/json`, revalidated on every use;
//! - index files (`1/a`, `2/ab`, `3/a/abc`, `se/rd/serde`) as `text/plain` with
//!   nginx's `ETag`/`Last-Modified`, revalidated on every use (`Cache-Control:
//!   no-cache`), so a publish is seen at once and an unchanged file costs a `304`;
//! - `.crate` files under `/crates/` as immutable (a published version's bytes
//!   never change);
//! - the catalogue (`/` and `/index.html`, `/catalogue/...`, `/feed.atom`; see
//!   [`crate::catalogue`]) as HTML, JavaScript, CSS and Atom, revalidated (a
//!   `404` when the registry has it off);
//! - `404` for everything else: no directory listings, and never `.regtool/` or
//!   any other dotfile.
//!
//! For a registry made with `--auth-required`, cargo sends its token as the raw
//! value of the `Authorization` header on every request, and asks for
//! `config.json` with the token only after a `401` without it. The block checks
//! the header against a *token file* that nginx reads itself, as the include
//! file of a `map`. `regtool token add` writes it (see [`crate::ops::token`]):
//! per token, a comment and an entry that maps the token's ID to the MD5 digest
//! of the whole token, which nginx's built-in `secure_link` module compares with
//! the digest of the header, so the file holds no token:
//!
//! ```text
//! # regtool-token name=ci created=2025-01-10T12:00:00Z read-only=no
//! "~^rgt_0123456789abcdef_[0-9a-f]{64}$" "nc3mh4HecljehxZAk5vr8g";
//! ```
//!
//! A raw token added by hand, `"~^TOKEN$" 1;`, is accepted too. Each key is a
//! regular expression (`~` starts a case-sensitive regex, `^...$` anchors it),
//! rather than the plain `"TOKEN" 1;` strings a `map` also takes, because nginx
//! compares plain keys ignoring case and keeps them in a hash whose buckets (64
//! bytes unless `map_hash_bucket_size` is raised, an `http`-wide setting that can
//! only be set once) are too small for a long token. A token is therefore made of
//! letters, digits, `-` and `_` (hex, or base64url), which need no escaping in a
//! regex. The file's default place is [`TOKEN_FILE_KEY`] inside the
//! registry, which the block never serves; nginx reads it when it starts or
//! reloads (`nginx -s reload` after a change).

use crate::error::{Error, Result};
use crate::layout::TOKEN_FILE_KEY;
use crate::registry::Registry;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Options of `nginx-config`.
#[derive(Debug, Clone)]
pub(crate) struct NginxOptions {
    /// `listen` value (port or address:port).
    pub(crate) listen: String,
    /// `server_name` value.
    pub(crate) server_name: String,
    /// File of accepted tokens (for `auth-required` registries).
    pub(crate) token_file: Option<PathBuf>,
}

/// The command that makes nginx read its configuration (and the token file):
/// test it, then reload nginx, or start it when it is not running (a reload
/// of a stopped nginx fails with `invalid PID number`). Printed wherever
/// regtool tells the user to reload nginx.
pub(crate) const START_OR_RELOAD: &str = "sudo nginx -t && (sudo nginx -s reload || sudo nginx)";

/// Seconds a `.crate` may be cached: one year, the longest value HTTP caches
/// are asked to honour.
pub(crate) const CRATE_MAX_AGE: u64 = 31_536_000;

/// The nginx configuration that serves `reg`: for an `auth-required` registry a
/// `map` block (the token check) followed by a `server` block, otherwise just the
/// `server` block. Both belong in nginx's `http` context, e.g. in a file under
/// `/etc/nginx/conf.d/` or `/etc/nginx/sites-enabled/`. The text ends without a
/// newline.
///
/// Inputs: the registry folder (made absolute, as nginx needs), its
/// `config.json` `auth-required` flag, and `opts`: `listen` and `server_name` are
/// copied into the block; `token_file` (default [`TOKEN_FILE_KEY`] inside the
/// registry) is used only by `auth-required` registries, and is read once to check
/// that nginx will accept it: blank lines, `#` comments, and per accepted token
/// a line `regtool token add` wrote or a raw `"~^TOKEN$" 1;`, a token being
/// letters, digits, `-` and `_`. The block uses nginx's `secure_link` module,
/// part of stock nginx builds (Debian's included).
///
/// Cargo's side of the token exchange:
/// <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>.
///
/// # Errors
/// - [`Error::Usage`] if `listen` or `server_name` holds a character that would
///   change the meaning of the nginx config (`;`, `{`, `"`, `$`, a newline, ...),
///   or if `token_file` is given for a registry that is not `auth-required` (cargo
///   would send no token, so every request would fail).
/// - [`Error::Config`] naming the registry folder if its path cannot be written in
///   an nginx config (not UTF-8, or holding `"`, `\`, `$` or a control character);
///   naming the token file if it is missing, has a line of another shape, a
///   token twice, or no token.
/// - [`Error::Io`] if the registry folder cannot be made absolute or the token file
///   cannot be read.
pub(crate) fn server_block(reg: &Registry, opts: &NginxOptions) -> Result<String> {
    check_value("--listen", &opts.listen)?;
    check_value("--server-name", &opts.server_name)?;
    let dir = reg.local_root().ok_or_else(|| {
        Error::Usage(format!(
            "`{}` is not a folder: nginx-config serves a registry folder",
            reg.location().display()
        ))
    })?;
    let root = absolute(dir)?;
    let root_str = path_for_nginx(&root)?;
    let token_file = if reg.config.auth_required {
        let path = match &opts.token_file {
            Some(p) => p.clone(),
            None => default_token_file(dir),
        };
        check_token_file(&path, dir)?;
        let abs = absolute(&path)?;
        Some(path_for_nginx(&abs)?)
    } else {
        if let Some(p) = &opts.token_file {
            return Err(Error::Usage(format!(
                "`--token-file {}` is only for registries that require a token, and `{}` does not (its config.json has no `auth-required`): cargo would send no token and every request would be refused",
                p.display(),
                reg.locate(crate::layout::CONFIG_KEY).display()
            )));
        }
        None
    };
    // Only in comments, but a newline there would end the comment.
    let cargo_config = reg
        .settings
        .registry_name()
        .cargo_config(&reg.index_url(), reg.config.auth_required, false)
        .replace(|c: char| c.is_control() && c != '\n', "");
    Ok(render(&Block {
        root: &root_str,
        cargo_config: &cargo_config,
        registry_name: reg.settings.registry_name().as_str(),
        listen: &opts.listen,
        server_name: &opts.server_name,
        token_file: token_file.as_deref(),
    }))
}

/// Everything the text of the block depends on (kept apart from the file system
/// so the text can be snapshot-tested).
#[derive(Debug, Clone, Copy)]
struct Block<'a> {
    /// Absolute registry folder, checked by [`path_for_nginx`].
    root: &'a str,
    /// What cargo users add to `.cargo/config.toml`, for the header comment
    /// (lines without control characters).
    cargo_config: &'a str,
    /// The registry's name on cargo's side, for the `401` page.
    registry_name: &'a str,
    listen: &'a str,
    server_name: &'a str,
    /// Absolute token file, for `auth-required` registries.
    token_file: Option<&'a str>,
}

/// Index file paths as cargo asks for them: lowercased crate names (letters,
/// digits, `-`, `_`) under `1/`, `2/`, `3/{c}/` or `{c1c2}/{c3c4}/`.
const INDEX_PATH_REGEX: &str = "^/(1/[a-z0-9_-]|2/[a-z0-9_-]{2}|3/[a-z0-9_-]/[a-z0-9_-]{3}|[a-z0-9_-]{2}/[a-z0-9_-]{2}/[a-z0-9_-]{4,})$";

fn render(b: &Block<'_>) -> String {
    let auth = b.token_file.is_some();
    // `private`: responses to requests carrying a token are not for shared caches.
    let scope = if auth { "private, " } else { "" };
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "# nginx config for the regtool registry in {root}\n\
         # (written by `regtool nginx-config`). Include it in nginx's `http {{ }}` context,\n\
         # e.g. as /etc/nginx/conf.d/registry.conf, then start or reload nginx:\n\
         #     {START_OR_RELOAD}\n\
         # Cargo users add to .cargo/config.toml:",
        root = b.root,
    );
    for line in b.cargo_config.lines() {
        let _ = writeln!(w, "#     {line}");
    }
    let var = b.token_file.map(|tf| {
        let suffix = short_hash(b.root);
        let expect = format!("$regtool_token_{suffix}");
        let var = format!("$regtool_token_ok_{suffix}");
        let _ = writeln!(
            w,
            "\n\
             # The registry requires a token (config.json `auth-required`): cargo sends it as the\n\
             # raw value of the Authorization header. The token file (`regtool token add/list/revoke`;\n\
             # nginx reads it when it starts or reloads) maps each token regtool made, by its ID, to\n\
             # the MD5 digest of the whole token, which secure_link (below) compares with the digest\n\
             # of the header; a raw `\"~^TOKEN$\" 1;` line (added by hand) maps its token to 1.\n\
             map $http_authorization {expect} {{\n    \
                 default \"\";\n    \
                 include \"{tf}\";\n\
             }}\n\
             map \"{expect}:$secure_link\" {var} {{\n    \
                 default 0;\n    \
                 \"1:\" 1;\n    \
                 \"~:1$\" 1;\n\
             }}"
        );
        (expect, var)
    });
    let _ = writeln!(
        w,
        "\n\
         server {{\n    \
             listen {listen};\n    \
             server_name {name};\n    \
             root \"{root}\";\n    \
             autoindex off;\n    \
             etag on;",
        listen = b.listen,
        name = b.server_name,
        root = b.root
    );
    if let Some((expect, var)) = &var {
        let body = nginx_string(&unauthorized_body(b.registry_name));
        let _ = writeln!(
            w,
            "\n    \
                 # $secure_link is 1 when the MD5 digest of the header is the one the token file gave.\n    \
                 secure_link {expect};\n    \
                 secure_link_md5 \"$http_authorization\";\n\
             \n    \
                 # No valid token: 401, which is also what makes cargo retry with its token.\n    \
                 if ({var} = 0) {{\n        \
                     return 401;\n    \
                 }}\n    \
                 error_page 401 @regtool_unauthorized;\n    \
                 # `types {{ }}`: the page is text whatever the URI's extension (.json, .html).\n    \
                 location @regtool_unauthorized {{\n        \
                     types {{ }}\n        \
                     default_type text/plain;\n        \
                     add_header WWW-Authenticate \"Cargo\" always;\n        \
                     return 401 \"{body}\";\n    \
                 }}"
        );
    }
    let _ = write!(
        w,
        "\n    \
             # regtool's own folder (.regtool/: settings, lock, tokens) and every other dotfile.\n    \
             location ~ /\\. {{\n        \
                 return 404;\n    \
             }}\n\
         \n    \
             # What cargo reads first; revalidated on every use.\n    \
             location = /config.json {{\n        \
                 types {{ }}\n        \
                 default_type application/json;\n        \
                 add_header Cache-Control \"{scope}no-cache\";\n        \
                 try_files $uri =404;\n    \
             }}\n\
         \n    \
             # Index files (1/a, 2/ab, 3/a/abc, se/rd/serde): plain text with ETag and\n    \
             # Last-Modified, revalidated on every use (an unchanged file costs a 304).\n    \
             location ~ \"{INDEX_PATH_REGEX}\" {{\n        \
                 types {{ }}\n        \
                 default_type text/plain;\n        \
                 add_header Cache-Control \"{scope}no-cache\";\n        \
                 try_files $uri =404;\n    \
             }}\n\
         \n    \
             # .crate files: a published version's bytes never change.\n    \
             location ~ ^/crates/[^/]+/[^/]+\\.crate$ {{\n        \
                 types {{ }}\n        \
                 default_type application/gzip;\n        \
                 add_header Cache-Control \"{scope}max-age={CRATE_MAX_AGE}, immutable\";\n        \
                 try_files $uri =404;\n    \
             }}\n\
         \n    \
             # The browsable catalogue (`regtool settings --html`): the start page, a page\n    \
             # per crate, its script, style sheet and search data, the Atom feed of new versions.\n    \
             location = / {{\n        \
                 types {{ }}\n        \
                 default_type text/html;\n        \
                 charset utf-8;\n        \
                 add_header Cache-Control \"{scope}no-cache\";\n        \
                 try_files /index.html =404;\n    \
             }}\n    \
             location ~ ^/(index\\.html|catalogue/crates/[A-Za-z0-9_-]+\\.html)$ {{\n        \
                 types {{ }}\n        \
                 default_type text/html;\n        \
                 charset utf-8;\n        \
                 add_header Cache-Control \"{scope}no-cache\";\n        \
                 try_files $uri =404;\n    \
             }}\n    \
             location ~ ^/catalogue/(search|search-index)\\.js$ {{\n        \
                 types {{ }}\n        \
                 default_type text/javascript;\n        \
                 charset utf-8;\n        \
                 charset_types text/javascript;\n        \
                 add_header Cache-Control \"{scope}no-cache\";\n        \
                 try_files $uri =404;\n    \
             }}\n    \
             location = /catalogue/style.css {{\n        \
                 types {{ }}\n        \
                 default_type text/css;\n        \
                 charset utf-8;\n        \
                 charset_types text/css;\n        \
                 add_header Cache-Control \"{scope}no-cache\";\n        \
                 try_files $uri =404;\n    \
             }}\n    \
             location = /feed.atom {{\n        \
                 types {{ }}\n        \
                 default_type application/atom+xml;\n        \
                 add_header Cache-Control \"{scope}no-cache\";\n        \
                 try_files $uri =404;\n    \
             }}\n\
         \n    \
             # Anything else: no directory listings.\n    \
             location / {{\n        \
                 return 404;\n    \
             }}\n\
         }}",
    );
    s
}

/// The text of the `401` page (`text/plain`), which cargo shows its user
/// under `body:` when it sent a token the server refused (and, with no token,
/// cargo says itself how to give one): what to do, with the registry's name.
fn unauthorized_body(registry_name: &str) -> String {
    let name = crate::config::RegistryName::parse(registry_name);
    let env = name.map_or_else(
        |_| "CARGO_REGISTRIES_NAME_TOKEN".into(),
        |n| n.token_env_var(),
    );
    format!(
        "This registry needs a valid token: give cargo yours with `cargo login --registry {registry_name}` (or in {env}), and `global-credential-providers = [\"cargo:token\"]` under `[registry]` in .cargo/config.toml. A token that worked before may have been revoked: ask the registry's owner for a new one (`regtool token add`).\n"
    )
}

/// `text` as the inside of a double-quoted nginx string: `\`, `"` and a
/// newline escaped. (`$` would start a variable: [`unauthorized_body`] has none.)
fn nginx_string(text: &str) -> String {
    debug_assert!(!text.contains('$'), "{text}");
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// First 8 hex digits of the SHA-256 of `s`: a stable suffix that keeps the
/// `map` variables of several registries on one nginx apart.
fn short_hash(s: &str) -> String {
    crate::crate_file::hex(&Sha256::digest(s.as_bytes())[..4])
}

/// `path` made absolute and free of `.`/`..` and symlinks (nginx resolves
/// relative paths against its own prefix, not the current folder).
#[allow(clippy::disallowed_methods)] // the nginx config names real paths
fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| Error::io("resolve", path, e))
}

/// `path` as text that can sit between double quotes in an nginx config, where
/// `$` starts a variable and `\` an escape.
fn path_for_nginx(path: &Path) -> Result<String> {
    let bad = |message: String| Error::Config {
        path: path.to_path_buf(),
        message,
    };
    let s = path.to_str().ok_or_else(|| {
        bad("nginx cannot be given this path: it is not valid UTF-8; move the registry".into())
    })?;
    if let Some(c) = s
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '$') || c.is_control())
    {
        return Err(bad(format!(
            "nginx cannot be given this path: it contains {}; move the registry to a path without it",
            describe_char(c)
        )));
    }
    Ok(s.to_owned())
}

/// Checks a value copied into a directive (`listen`, `server_name`): words
/// separated by spaces are fine (`443 ssl`, `a.example b.example`), characters
/// that end the directive, open a block, quote, start a variable or a comment are
/// not.
fn check_value(flag: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::Usage(format!("`{flag}` must not be empty")));
    }
    if let Some(c) = value
        .chars()
        .find(|c| matches!(c, ';' | '{' | '}' | '"' | '\'' | '\\' | '$' | '#') || c.is_control())
    {
        return Err(Error::Usage(format!(
            "`{flag} {value}` cannot go into an nginx config: it contains {}",
            describe_char(c)
        )));
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("the control character U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

/// How to add a token to `path`, for error messages.
fn how_to_add(path: &Path, registry: &Path) -> String {
    if path == default_token_file(registry) {
        format!(
            "add one with `regtool --registry {} token add NAME`",
            registry.display()
        )
    } else {
        format!(
            "add one with `regtool token add NAME` (which writes `{TOKEN_FILE_KEY}` in the registry), or by hand: t=$(openssl rand -hex 32); printf '\"~^%s$\" 1;\\n' \"$t\" >> {}; echo \"$t\"",
            path.display()
        )
    }
}

/// Reads the token file as nginx will and returns how many tokens it accepts.
///
/// Format: blank lines and `#` comments are ignored; every other line is a
/// token of `regtool token add` (`"~^rgt_ID_[0-9a-f]{64}$" "DIGEST";`, see
/// [`crate::ops::token`]) or a raw token added by hand, `"~^TOKEN$" 1;`, TOKEN
/// being one or more ASCII letters, digits, `-` and `_` (so the regex matches
/// exactly that token, case included).
///
/// # Errors
/// [`Error::Config`] naming the file (and the line) for a missing file, a line
/// of another shape, a token twice, or no token; [`Error::Io`] if it cannot be
/// read.
#[allow(clippy::disallowed_methods)] // `--token-file` may be anywhere
fn check_token_file(path: &Path, registry: &Path) -> Result<usize> {
    let bad = |message: String| Error::Config {
        path: path.to_path_buf(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(format!(
                "the token file does not exist: the registry `{}` requires a token, so nginx needs the file of accepted tokens, one `\"~^TOKEN$\" 1;` line each (its default place is `{TOKEN_FILE_KEY}` in the registry; `--token-file FILE` names another); {}",
                registry.display(),
                how_to_add(path, registry)
            )));
        }
        Err(e) => return Err(Error::io("read", path, e)),
    };
    // Keys: (whether it is a token ID of `regtool token add`, the ID or raw token).
    let mut seen: HashMap<(bool, &str), usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = match crate::ops::token::parse_hashed_line(line) {
            Some((id, _digest)) => (true, id),
            None => (
                false,
                parse_token_line(line).map_err(|why| bad(format!("line {n}: {why}")))?,
            ),
        };
        if let Some(first) = seen.insert(key, n) {
            return Err(bad(format!("line {n}: the same token as line {first}")));
        }
    }
    if seen.is_empty() {
        return Err(bad(format!(
            "the token file has no token, so nginx would refuse every request; {}",
            how_to_add(path, registry)
        )));
    }
    Ok(seen.len())
}

/// The token of one non-blank, non-comment line `"~^TOKEN$" 1;`, or why the
/// line is not one.
fn parse_token_line(line: &str) -> std::result::Result<&str, String> {
    const SHAPE: &str = "expected a line `regtool token add` wrote or `\"~^TOKEN$\" 1;`";
    let Some(rest) = line.strip_prefix('"') else {
        return Err(format!("{SHAPE}, found `{line}`"));
    };
    let Some(end) = rest.find('"') else {
        return Err(format!("{SHAPE}: the closing `\"` is missing"));
    };
    let (key, tail) = (&rest[..end], &rest[end + 1..]);
    let tail: String = tail.split_whitespace().collect();
    if tail != "1;" {
        return Err(format!("{SHAPE}, found `{line}`"));
    }
    let Some(token) = key.strip_prefix("~^").and_then(|k| k.strip_suffix('$')) else {
        return Err(format!(
            "{SHAPE}, found `{line}`: the `~^` before the token and the `$` after it make nginx compare the whole header, case included"
        ));
    };
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    if let Some(c) = token
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(format!(
            "the token contains {}; a token here is letters, digits, `-` and `_` (e.g. from `openssl rand -hex 32`), which nginx matches exactly",
            describe_char(c)
        ));
    }
    Ok(token)
}

/// The default token file of a registry folder.
pub(crate) fn default_token_file(root: &Path) -> PathBuf {
    root.join(TOKEN_FILE_KEY)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests make and read real files
mod tests {
    use super::*;
    use crate::config::{RegistryConfig, Settings};

    fn block(token_file: Option<&'static str>) -> Block<'static> {
        Block {
            root: "/srv/registry",
            cargo_config: "[registries.example]\nindex = \"sparse+https://crates.example.com/\"\n",
            registry_name: "example",
            listen: "80",
            server_name: "crates.example.com",
            token_file,
        }
    }

    #[test]
    fn default_token_file_is_never_served() {
        let state = format!("{}/", crate::layout::STATE_DIR);
        assert!(TOKEN_FILE_KEY.starts_with(&state));
    }

    #[test]
    fn plain_registry_block() {
        insta::assert_snapshot!(render(&block(None)));
    }

    #[test]
    fn auth_registry_block() {
        insta::assert_snapshot!(render(&block(Some(
            "/srv/registry/.regtool/nginx-tokens.map",
        ))));
    }

    fn registry(dir: &Path, auth: bool) -> Registry {
        let mut settings: Settings =
            toml::from_str("url = \"https://crates.example.com\"").unwrap();
        // The server block is the same either way; a build without the
        // catalogue cannot make a registry with it on.
        settings.html = crate::catalogue::BUILT;
        let location = crate::location::RegistryLocation::Local(dir.to_path_buf());
        let config = RegistryConfig::for_base_url("https://crates.example.com", auth);
        let writer = location
            .create(config, settings, &crate::output::Shell::silent())
            .unwrap();
        writer.registry().clone()
    }

    fn opts(token_file: Option<PathBuf>) -> NginxOptions {
        NginxOptions {
            listen: "127.0.0.1:8080".into(),
            server_name: "_".into(),
            token_file,
        }
    }

    #[test]
    fn plain_registry_uses_absolute_root_and_no_token() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = registry(tmp.path(), false);
        let text = server_block(&reg, &opts(None)).unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        assert!(
            text.contains(&format!("root \"{}\";", root.display())),
            "{text}"
        );
        assert!(text.contains("listen 127.0.0.1:8080;"), "{text}");
        assert!(!text.contains("map "), "{text}");
        assert!(!text.ends_with('\n'));
    }

    #[test]
    fn token_file_for_plain_registry_is_a_usage_error() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = registry(tmp.path(), false);
        let err = server_block(&reg, &opts(Some(tmp.path().join("t.map")))).unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
        assert!(err.to_string().contains("auth-required"), "{err}");
    }

    #[test]
    fn missing_default_token_file_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = registry(tmp.path(), true);
        let err = server_block(&reg, &opts(None)).unwrap_err();
        let Error::Config { path, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(path, &default_token_file(tmp.path()));
        assert!(message.contains("does not exist"), "{message}");
        assert!(message.contains("--token-file"), "{message}");
    }

    #[test]
    fn default_token_file_is_used_and_absolute() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = registry(tmp.path(), true);
        std::fs::write(
            default_token_file(tmp.path()),
            "# CI\n\"~^0123456789abcdef$\" 1;\n\n",
        )
        .unwrap();
        let text = server_block(&reg, &opts(None)).unwrap();
        let tf = std::fs::canonicalize(default_token_file(tmp.path())).unwrap();
        assert!(
            text.contains(&format!("include \"{}\";", tf.display())),
            "{text}"
        );
        assert!(text.contains("return 401;"), "{text}");
    }

    #[test]
    fn explicit_token_file_is_used() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = registry(&tmp.path().join("reg"), true);
        let tf = tmp.path().join("tokens.map");
        std::fs::write(&tf, "\"~^abc-DEF_123$\" 1;\n").unwrap();
        let text = server_block(&reg, &opts(Some(tf.clone()))).unwrap();
        let tf = std::fs::canonicalize(&tf).unwrap();
        assert!(
            text.contains(&format!("include \"{}\";", tf.display())),
            "{text}"
        );
    }

    #[test]
    fn token_lines_are_checked() {
        let ok = parse_token_line;
        assert_eq!(ok("\"~^abc$\" 1;"), Ok("abc"));
        assert_eq!(ok("\"~^A-b_9$\"   1 ;"), Ok("A-b_9"));
        for bad in [
            "abc 1;",
            "\"abc\" 1;",
            "\"~abc\" 1;",
            "\"~^abc\" 1;",
            "\"~*^abc$\" 1;",
            "\"~^abc$\"",
            "\"~^abc$\" 0;",
            "\"~^abc$ 1;",
            "\"~^$\" 1;",
            "\"~^a.c$\" 1;",
            "\"~^a c$\" 1;",
            "\"~^a+b/c=$\" 1;",
            "\"~^a\u{e9}$\" 1;",
        ] {
            assert!(ok(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn token_file_problems_name_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        let tf = tmp.path().join("t");
        let check = |text: &str| {
            std::fs::write(&tf, text).unwrap();
            check_token_file(&tf, tmp.path()).map_err(|e| e.to_string())
        };
        assert_eq!(check("\"~^a$\" 1;\n# x\n\"~^A$\" 1;\n"), Ok(2));
        let e = check("\"~^a$\" 1;\nbearer b\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = check("\"~^abc$\" 1;\n  \"~^abc$\"  1;\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("line 1"), "{e}");
        let e = check("# none yet\n").unwrap_err();
        assert!(e.contains("no token") && e.contains("openssl rand"), "{e}");
    }

    #[test]
    fn directive_values_cannot_inject_config() {
        assert!(check_value("--listen", "80").is_ok());
        assert!(check_value("--listen", "[::1]:8080").is_ok());
        assert!(check_value("--listen", "443 ssl").is_ok());
        assert!(check_value("--server-name", "a.example b.example").is_ok());
        for bad in [
            "",
            " ",
            "80; include /etc/passwd",
            "x{",
            "$host",
            "a\nb",
            "a#b",
        ] {
            assert!(
                matches!(check_value("--listen", bad), Err(Error::Usage(_))),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn paths_nginx_would_misread_are_refused() {
        for bad in ["/srv/$reg", "/srv/a\"b", "/srv/a\\b", "/srv/a\nb"] {
            let err = path_for_nginx(Path::new(bad)).unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{err}");
        }
        assert_eq!(
            path_for_nginx(Path::new("/srv/my registry")).unwrap(),
            "/srv/my registry"
        );
    }
}
