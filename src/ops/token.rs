//! `regtool token add/list/revoke`: the tokens nginx accepts for a registry made
//! with `--auth-required`, and `regtool serve` for cargo's Web API (in a
//! folder or a bucket) (cargo's side:
//! <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>).
//! Floor 5 (`commands`).
//!
//! A token is `rgt_` + a 16-hex-digit *ID* + `_` + 64 hex digits of *secret*
//! (8 and 32 bytes from the operating system's random source), 85 characters
//! of letters, digits and `_`. The token itself is printed once, by `token add`,
//! and stored nowhere: the token file ([`TOKEN_FILE_KEY`], mode 0600, which
//! `nginx-config` includes in its `map`) keeps, per token, a comment line with
//! its name, creation time and read-only mark, then one `map` entry:
//!
//! ```text
//! # regtool-token name=ci created=2025-01-10T12:00:00Z read-only=yes
//! "~^rgt_0123456789abcdef_[0-9a-f]{64}$" "nc3mh4HecljehxZAk5vr8g";
//! ```
//!
//! The key matches every token of that ID; the value is the MD5 digest of the
//! whole token (base64url, no padding). nginx's `secure_link` module, built into
//! stock nginx (Debian's `nginx` package included), computes the MD5 digest of
//! the `Authorization` header and compares it with that value
//! (<https://nginx.org/en/docs/http/ngx_http_secure_link_module.html>); MD5 is
//! the only digest stock nginx can compute. It is enough here: the secret is 256
//! random bits, so the digest gives nothing to guess from, and MD5's known
//! weakness (collisions between two inputs an attacker picks) does not help to
//! find a token for a given digest.
//!
//! Lines of the older by-hand shape `"~^TOKEN$" 1;` (a raw token) stay valid and
//! are kept as they are; `token list` counts them but cannot name or revoke them.
//!
//! A token is read-only when it has no scopes (below): nginx only serves
//! reads, and publishing is `regtool add` on the registry's own file system
//! or a scope through `regtool serve`. The `read-only=` mark of the comment
//! line is written (`yes` for a token without scopes) and required for the
//! line's shape, but the scopes decide ([`TokenInfo::read_only`]).
//!
//! What a token may do through cargo's Web API (`regtool serve`, see
//! docs/serve.md) is its *scopes*, crates.io's names ([`Scope`]), optionally
//! limited to crate-name patterns: two more fields of the comment line,
//! written only when the token has them:
//!
//! ```text
//! # regtool-token name=alice created=2025-01-10T12:00:00Z read-only=no scopes=publish-new,publish-update crates=acme-*
//! ```
//!
//! A token without `scopes=` can only read, so every token made before scopes
//! existed stays read-only; nginx ignores comment lines, so the scopes change
//! nothing for reads through nginx.

use crate::error::{Error, Result};
use crate::layout::TOKEN_FILE_KEY;
use crate::output::Shell;
use crate::registry::Registry;
use base64::Engine as _;
use md5::Digest as _;
use serde::Serialize;
use std::path::PathBuf;

/// What every token regtool makes starts with.
pub(crate) const TOKEN_PREFIX: &str = "rgt_";
/// Hex digits of a token's ID (8 random bytes).
pub(crate) const ID_HEX: usize = 16;
/// Hex digits of a token's secret (32 random bytes).
pub(crate) const SECRET_HEX: usize = 64;
/// Characters of a token's digest in the token file: MD5, base64url, no padding.
pub(crate) const DIGEST_LEN: usize = 22;
/// How a token's comment line in the token file starts.
const META: &str = "# regtool-token ";
/// Longest token name.
const MAX_NAME: usize = 64;

/// The head of a token file regtool creates.
const HEADER: &str = "\
# Tokens nginx accepts for this registry, read when nginx starts or reloads.
# Managed with `regtool token add/list/revoke`: per token, a `# regtool-token` line,
# then its ID and the MD5 digest of the whole token (base64url), which nginx's
# secure_link module checks. Raw tokens added by hand, one \"~^TOKEN$\" 1; line each,
# are accepted too.
";

/// A token as `token list` shows it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TokenInfo {
    /// The name given to `token add`: letters, digits, `-`, `_`.
    pub(crate) name: String,
    /// The token's public part, `rgt_` + 16 hex digits + `_`: every token starts
    /// with it, so a token seen somewhere can be told apart.
    pub(crate) id: String,
    /// When it was added (`YYYY-MM-DDTHH:MM:SSZ`, UTC).
    pub(crate) created: String,
    /// The token has no scopes: it can only read (through nginx and through
    /// `regtool serve` alike). Derived from `scopes`: the file's
    /// `read-only=` mark, a label of tokens made before scopes, is not
    /// what decides.
    pub(crate) read_only: bool,
    /// What the token may do through the Web API (empty: read only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) scopes: Vec<Scope>,
    /// The crates its scopes apply to (crate-name patterns: a name, or a
    /// prefix ending in `*`); empty: every crate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) crates: Vec<String>,
}

/// What a token may do through cargo's Web API: crates.io's token scopes
/// (<https://crates.io/settings/tokens/new> names them), plus `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Scope {
    /// Publish the first version of a crate (`cargo publish`).
    PublishNew,
    /// Publish a new version of a crate it owns (`cargo publish`).
    PublishUpdate,
    /// Yank and unyank versions of a crate it owns (`cargo yank`).
    Yank,
    /// Add and remove owners of a crate it owns (`cargo owner`).
    ChangeOwners,
    /// All of the above on every crate, owned or not (crates from the CLI
    /// or `mirror` have no owner).
    Admin,
}

impl Scope {
    /// Every scope, in the order they are written.
    pub(crate) const ALL: [Scope; 5] = [
        Scope::PublishNew,
        Scope::PublishUpdate,
        Scope::Yank,
        Scope::ChangeOwners,
        Scope::Admin,
    ];

    /// The scope's name in the token file and on the command line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::PublishNew => "publish-new",
            Scope::PublishUpdate => "publish-update",
            Scope::Yank => "yank",
            Scope::ChangeOwners => "change-owners",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `s`.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the scopes there are.
    pub(crate) fn parse(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown token scope `{s}`; the scopes are {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ))
            })
    }
}

/// Checks a crate-name pattern of `--crates`: a crate name (letters,
/// digits, `-`, `_`), or a prefix of one followed by `*` (crates.io's rule).
///
/// # Errors
/// [`Error::Usage`] naming the pattern and the rule.
pub(crate) fn check_pattern(p: &str) -> Result<()> {
    let stem = p.strip_suffix('*').unwrap_or(p);
    let ok = stem
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && (!stem.is_empty() || p == "*")
        && p.len() <= MAX_NAME;
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "crate pattern `{p}`: a pattern is a crate name, or the start of one followed by `*`"
        )))
    }
}

impl TokenInfo {
    /// Whether this token may do `scope` to the crate `name` (any spelling:
    /// patterns are compared after lowercasing and `-` to `_`, as names are).
    /// `admin` allows every scope on every crate. Ownership is checked by
    /// the caller.
    #[cfg_attr(not(feature = "serve"), allow(dead_code))]
    pub(crate) fn allows(&self, scope: Scope, name: &crate::name::CrateName) -> bool {
        let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
        // `admin` stands for every scope, within the crate patterns too.
        if !self.scopes.contains(&Scope::Admin) && !self.scopes.contains(&scope) {
            return false;
        }
        let canonical = name.canonical();
        self.crates.is_empty()
            || self.crates.iter().any(|p| match p.strip_suffix('*') {
                Some(stem) => canonical.starts_with(&fold(stem)),
                None => canonical == fold(p),
            })
    }
}

/// One line (or pair of lines) of a token file.
#[derive(Debug, Clone)]
enum Line {
    /// A token regtool added: its comment line and its entry.
    Managed { info: TokenInfo, digest: String },
    /// Anything else, kept as it is.
    Other(String),
}

/// The entry of a token regtool added, `"~^rgt_ID_[0-9a-f]{64}$" "DIGEST";`,
/// as `(ID, DIGEST)`; `None` for a line of another shape.
pub(crate) fn parse_hashed_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix("\"~^")?;
    let rest = rest.strip_prefix(TOKEN_PREFIX)?;
    let (id, rest) = rest.split_at_checked(ID_HEX)?;
    let rest = rest.strip_prefix(&format!("_[0-9a-f]{{{SECRET_HEX}}}$\""))?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let (digest, rest) = rest.split_at_checked(DIGEST_LEN)?;
    let rest = rest.strip_prefix('"')?.trim_start().strip_prefix(';')?;
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let b64 = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (rest.trim().is_empty() && hex(id) && b64(digest)).then_some((id, digest))
}

fn entry_line(id: &str, digest: &str) -> String {
    format!("\"~^{TOKEN_PREFIX}{id}_[0-9a-f]{{{SECRET_HEX}}}$\" \"{digest}\";")
}

fn meta_line(info: &TokenInfo) -> String {
    let mut line = format!(
        "{META}name={} created={} read-only={}",
        info.name,
        info.created,
        if info.read_only { "yes" } else { "no" }
    );
    if !info.scopes.is_empty() {
        let names: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
        line.push_str(&format!(" scopes={}", names.join(",")));
    }
    if !info.crates.is_empty() {
        line.push_str(&format!(" crates={}", info.crates.join(",")));
    }
    line
}

/// The name, time, mark, scopes and crate patterns of a `# regtool-token`
/// line (its `id` left empty); `None` for a line of another shape.
fn parse_meta(line: &str) -> Option<TokenInfo> {
    let rest = line.strip_prefix(META)?;
    let (mut name, mut created, mut read_only) = (None, None, None);
    let (mut scopes, mut crates) = (Vec::new(), Vec::new());
    for field in rest.split_whitespace() {
        match field.split_once('=')? {
            ("name", v) if check_name(v).is_ok() => name = Some(v.to_owned()),
            ("created", v) => created = Some(v.to_owned()),
            ("read-only", "yes") => read_only = Some(true),
            ("read-only", "no") => read_only = Some(false),
            ("scopes", v) => {
                scopes = v
                    .split(',')
                    .map(|s| Scope::parse(s).ok())
                    .collect::<Option<Vec<_>>>()?;
            }
            ("crates", v) => {
                crates = v.split(',').map(str::to_owned).collect();
                if crates.iter().any(|p| check_pattern(p).is_err()) {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(TokenInfo {
        name: name?,
        id: String::new(),
        created: created?,
        // The mark must be there (the line's shape), but the scopes decide.
        read_only: read_only.map(|_| scopes.is_empty())?,
        scopes,
        crates,
    })
}

/// The MD5 digest of `token`, base64url without padding, as nginx's
/// `secure_link` module expects it.
pub(crate) fn digest(token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(md5::Md5::digest(token.as_bytes()))
}

fn parse_file(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(info) = parse_meta(line)
            && let Some((id, digest)) = lines.peek().and_then(|l| parse_hashed_line(l))
        {
            out.push(Line::Managed {
                info: TokenInfo {
                    id: format!("{TOKEN_PREFIX}{id}_"),
                    ..info
                },
                digest: digest.to_owned(),
            });
            lines.next();
            continue;
        }
        out.push(Line::Other(line.to_owned()));
    }
    out
}

fn render_file(lines: &[Line]) -> String {
    let mut s = String::new();
    for line in lines {
        match line {
            Line::Managed { info, digest } => {
                s.push_str(&meta_line(info));
                s.push('\n');
                let id = &info.id[TOKEN_PREFIX.len()..info.id.len() - 1];
                s.push_str(&entry_line(id, digest));
            }
            Line::Other(l) => s.push_str(l),
        }
        s.push('\n');
    }
    s
}

/// How many raw (by-hand) token entries `lines` hold.
fn raw_tokens(lines: &[Line]) -> usize {
    lines
        .iter()
        .filter(|l| matches!(l, Line::Other(t) if t.trim().starts_with('"') && parse_hashed_line(t).is_none()))
        .count()
}

fn managed(lines: &[Line]) -> impl Iterator<Item = &TokenInfo> {
    lines.iter().filter_map(|l| match l {
        Line::Managed { info, .. } => Some(info),
        Line::Other(_) => None,
    })
}

/// Checks a token name: 1 to 64 ASCII letters, digits, `-` and `_`.
///
/// # Errors
/// [`Error::Usage`] naming the rule.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(Error::Usage(format!(
            "token name `{name}`: a name is 1 to {MAX_NAME} letters, digits, `-` and `_`"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(Error::Usage(format!(
            "token name `{name}` contains `{}`: a name is letters, digits, `-` and `_`",
            c.escape_default()
        )));
    }
    Ok(())
}

/// The token file of a registry, read: its lines and revision. In a bucket
/// only `regtool serve` reads it (no nginx there; the bucket's own access
/// rules decide who reads the bucket directly).
fn read(reg: &Registry) -> Result<(Vec<Line>, Option<crate::storage::Revision>)> {
    Ok(match reg.read_state(TOKEN_FILE_KEY)? {
        Some((bytes, rev)) => {
            let text = String::from_utf8(bytes).map_err(|_| Error::Config {
                path: reg.locate(TOKEN_FILE_KEY),
                message: "the token file is not UTF-8 text".into(),
            })?;
            (parse_file(&text), Some(rev))
        }
        None => (Vec::new(), None),
    })
}

/// What `token add` did; the only place the token is ever shown.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenAdded {
    /// The new token's name, ID, time and mark.
    #[serde(flatten)]
    pub(crate) info: TokenInfo,
    /// The token: give it to cargo; it is not stored and not shown again.
    pub(crate) token: String,
    /// The file nginx reads the tokens from.
    pub(crate) token_file: PathBuf,
    /// The registry's name on cargo's side (`[registries.NAME]`;
    /// [`crate::config::Settings::registry_name`]).
    pub(crate) registry_name: String,
    /// The command that gives cargo the token (it reads it from stdin).
    pub(crate) cargo_login: String,
    /// The environment variable that gives cargo the token instead (CI).
    pub(crate) env_var: String,
}

/// Options of `token add`.
#[derive(Debug, Clone)]
pub(crate) struct AddOptions {
    /// Mark the token as a consumer's.
    pub(crate) read_only: bool,
    /// What it may do through the Web API (none: read only).
    pub(crate) scopes: Vec<Scope>,
    /// The crate-name patterns its scopes apply to (none: every crate).
    pub(crate) crates: Vec<String>,
}

/// A new random token: `(ID, whole token)`.
///
/// # Errors
/// [`Error::Io`] if the operating system gives no random bytes.
fn new_token() -> Result<(String, String)> {
    let mut bytes = [0u8; ID_HEX / 2 + SECRET_HEX / 2];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::io(
            "read random bytes from",
            "the operating system's random source",
            std::io::Error::other(e.to_string()),
        )
    })?;
    let id = crate::crate_file::hex(&bytes[..ID_HEX / 2]);
    let secret = crate::crate_file::hex(&bytes[ID_HEX / 2..]);
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    Ok((id, token))
}

/// Adds a token named `name` to the registry's token file (created, mode 0600,
/// if missing) and returns it: the only time it is shown.
///
/// # Errors
/// [`Error::Usage`] for a bad name, a name, scope or pattern already used or
/// not allowed; [`Error::Config`] if the token file is not text; [`Error::Io`]/[`Error::Conflict`] naming the token file.
pub(crate) fn add(
    reg: &Registry,
    name: &str,
    opts: &AddOptions,
    shell: &Shell,
) -> Result<TokenAdded> {
    check_name(name)?;
    for p in &opts.crates {
        check_pattern(p)?;
    }
    if !opts.crates.is_empty() && opts.scopes.is_empty() {
        return Err(Error::Usage(
            "`--crates` limits a token's scopes; give them with `--scope`".into(),
        ));
    }
    if opts.read_only && !opts.scopes.is_empty() {
        return Err(Error::Usage(
            "a `--read-only` token has no scopes; leave out `--read-only` or `--scope`".into(),
        ));
    }
    let mut scopes = opts.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let registry_name = reg.settings.registry_name();
    let writer = reg.writer(shell)?;
    let (mut lines, rev) = read(reg)?;
    if let Some(t) = managed(&lines).find(|t| t.name == name) {
        return Err(Error::Usage(format!(
            "a token named `{name}` exists already ({}, added {}); pick another name, or `regtool token revoke {name}` first",
            t.id, t.created
        )));
    }
    let (id, token) = loop {
        let (id, token) = new_token()?;
        let prefix = format!("{TOKEN_PREFIX}{id}_");
        if !managed(&lines).any(|t| t.id == prefix) {
            break (id, token);
        }
    };
    let info = TokenInfo {
        name: name.to_owned(),
        id: format!("{TOKEN_PREFIX}{id}_"),
        created: crate::index::pubtime_now(),
        read_only: scopes.is_empty(),
        scopes,
        crates: opts.crates.clone(),
    };
    if lines.is_empty() {
        lines.extend(HEADER.lines().map(|l| Line::Other(l.to_owned())));
    }
    lines.push(Line::Managed {
        info: info.clone(),
        digest: digest(&token),
    });
    writer.put_secret(TOKEN_FILE_KEY, render_file(&lines).as_bytes(), rev)?;
    if reg.local_root().is_none() {
        shell.warn(format!(
            "`{}` is a bucket: only `regtool serve` checks its tokens (the bucket's own access rules decide who reads the bucket directly)",
            reg.location().display()
        ));
    } else if !reg.config.auth_required && info.scopes.is_empty() {
        // A token with scopes is a publisher's for `regtool serve`: cargo
        // sends it with every API request, `auth-required` or not.
        shell.warn(format!(
            "`{}` does not require a token (config.json has no `auth-required`), so cargo sends none and nginx checks none; `regtool settings --auth-required true` turns it on",
            reg.location().display()
        ));
    }
    Ok(TokenAdded {
        info,
        token,
        token_file: reg.locate(TOKEN_FILE_KEY),
        cargo_login: format!("cargo login --registry {registry_name}"),
        env_var: registry_name.token_env_var(),
        registry_name: registry_name.into(),
    })
}

/// The token `presented` (what cargo sends in `Authorization`), if the token
/// file holds it: found by its ID, its digest compared in constant time.
/// `None` for a value of another shape, an unknown ID or a wrong secret.
///
/// # Errors
/// As reading the token file: [`Error::Config`], [`Error::Io`].
#[cfg(feature = "serve")]
pub(crate) fn authenticate(reg: &Registry, presented: &str) -> Result<Option<TokenInfo>> {
    use subtle::ConstantTimeEq as _;
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let Some((id, secret)) = presented
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|r| r.split_once('_'))
    else {
        return Ok(None);
    };
    if !hex(id, ID_HEX) || !hex(secret, SECRET_HEX) {
        return Ok(None);
    }
    let (lines, _) = read(reg)?;
    let want = format!("{TOKEN_PREFIX}{id}_");
    let found = lines.into_iter().find_map(|l| match l {
        Line::Managed { info, digest } if info.id == want => Some((info, digest)),
        _ => None,
    });
    Ok(found.and_then(|(info, stored)| {
        let same: bool = digest(presented).as_bytes().ct_eq(stored.as_bytes()).into();
        same.then_some(info)
    }))
}

/// The tokens of `token list`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenList {
    /// The file nginx reads the tokens from.
    pub(crate) token_file: PathBuf,
    /// The tokens regtool added, in the file's order.
    pub(crate) tokens: Vec<TokenInfo>,
    /// How many raw tokens (`"~^TOKEN$" 1;` lines added by hand) the file also holds.
    pub(crate) raw_tokens: usize,
}

/// The tokens in the registry's token file (none if it has none).
///
/// # Errors
/// [`Error::Config`] if the token file is not text; [`Error::Io`] naming it.
pub(crate) fn list(reg: &Registry) -> Result<TokenList> {
    let (lines, _) = read(reg)?;
    Ok(TokenList {
        token_file: reg.locate(TOKEN_FILE_KEY),
        tokens: managed(&lines).cloned().collect(),
        raw_tokens: raw_tokens(&lines),
    })
}

/// What `token revoke` did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenRevoked {
    /// The token that nginx accepts no more (after a reload).
    #[serde(flatten)]
    pub(crate) info: TokenInfo,
    /// The file nginx reads the tokens from.
    pub(crate) token_file: PathBuf,
    /// How many tokens the file still accepts (regtool's and raw ones).
    pub(crate) remaining: usize,
}

/// Removes the token named `name` from the token file.
///
/// # Errors
/// [`Error::NotFound`] naming the token (and listing the names there are);
/// [`Error::Usage`] for a bad name;
/// [`Error::Io`]/[`Error::Conflict`] naming the token file.
pub(crate) fn revoke(reg: &Registry, name: &str, shell: &Shell) -> Result<TokenRevoked> {
    check_name(name)?;
    let writer = reg.writer(shell)?;
    let (mut lines, rev) = read(reg)?;
    let Some(pos) = lines
        .iter()
        .position(|l| matches!(l, Line::Managed { info, .. } if info.name == name))
    else {
        let names: Vec<&str> = managed(&lines).map(|t| t.name.as_str()).collect();
        return Err(Error::NotFound {
            message: format!(
                "no token named `{name}` in `{}`; {}",
                reg.locate(TOKEN_FILE_KEY).display(),
                if names.is_empty() {
                    "it has none".to_owned()
                } else {
                    format!("its tokens: {}", names.join(", "))
                }
            ),
        });
    };
    let Line::Managed { info, .. } = lines.remove(pos) else {
        unreachable!("found as a managed line")
    };
    writer.put_secret(TOKEN_FILE_KEY, render_file(&lines).as_bytes(), rev)?;
    let remaining = managed(&lines).count() + raw_tokens(&lines);
    if remaining == 0 && reg.config.auth_required {
        shell.warn(
            "the token file holds no token now: after a reload nginx refuses every request, and `regtool nginx-config` refuses to print a block until a token is added",
        );
    }
    Ok(TokenRevoked {
        info,
        token_file: reg.locate(TOKEN_FILE_KEY),
        remaining,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_their_shape_and_differ() {
        let (id, t) = new_token().unwrap();
        let (_, t2) = new_token().unwrap();
        assert_ne!(t, t2);
        assert_eq!(t.len(), TOKEN_PREFIX.len() + ID_HEX + 1 + SECRET_HEX);
        assert!(t.starts_with(&format!("{TOKEN_PREFIX}{id}_")));
        assert!(
            t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{t}"
        );
    }

    #[test]
    fn digest_is_md5_base64url() {
        // MD5("abc") = 900150983cd24fb0d6963f7d28e17f72.
        assert_eq!(digest("abc"), "kAFQmDzST7DWlj99KOF_cg");
        assert_eq!(digest("x").len(), DIGEST_LEN);
    }

    #[test]
    fn entry_lines_round_trip() {
        let line = entry_line("0123456789abcdef", "kAFQmDzST7DWlj99KOF_cg");
        assert_eq!(
            line,
            "\"~^rgt_0123456789abcdef_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_cg\";"
        );
        assert_eq!(
            parse_hashed_line(&line),
            Some(("0123456789abcdef", "kAFQmDzST7DWlj99KOF_cg"))
        );
        for bad in [
            "\"~^rgt_0123456789abcdeF_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_cg\";",
            "\"~^rgt_0123456789abcde_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_cg\";",
            "\"~^rgt_0123456789abcdef_[0-9a-f]{63}$\" \"kAFQmDzST7DWlj99KOF_cg\";",
            "\"~^rgt_0123456789abcdef_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_c\";",
            "\"~^rgt_0123456789abcdef_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF+cg\";",
            "\"~^rgt_0123456789abcdef_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_cg\"",
            "\"~^rgt_0123456789abcdef_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_cg\"; x",
            "\"~^abc$\" 1;",
        ] {
            assert_eq!(parse_hashed_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn files_keep_what_regtool_did_not_write() {
        let text = "# mine\n\"~^handmade$\" 1;\n# regtool-token name=ci created=2025-01-10T12:00:00Z read-only=yes\n\"~^rgt_0123456789abcdef_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_cg\";\n\n";
        let lines = parse_file(text);
        assert_eq!(render_file(&lines), text);
        assert_eq!(raw_tokens(&lines), 1);
        let infos: Vec<_> = managed(&lines).collect();
        assert_eq!(
            infos,
            [&TokenInfo {
                name: "ci".into(),
                id: "rgt_0123456789abcdef_".into(),
                created: "2025-01-10T12:00:00Z".into(),
                read_only: true,
                scopes: Vec::new(),
                crates: Vec::new(),
            }]
        );
    }

    #[test]
    fn scopes_and_patterns_round_trip_and_limit() {
        let text = "# regtool-token name=alice created=2025-01-10T12:00:00Z read-only=no scopes=publish-new,yank crates=acme-*,solo\n\"~^rgt_0123456789abcdef_[0-9a-f]{64}$\" \"kAFQmDzST7DWlj99KOF_cg\";\n";
        let lines = parse_file(text);
        assert_eq!(render_file(&lines), text);
        let info = managed(&lines).next().expect("a managed token");
        assert_eq!(info.scopes, [Scope::PublishNew, Scope::Yank]);
        let name = |s: &str| crate::name::CrateName::new(s).unwrap();
        assert!(info.allows(Scope::PublishNew, &name("acme_tools")));
        assert!(info.allows(Scope::Yank, &name("Solo")));
        assert!(!info.allows(Scope::PublishUpdate, &name("acme-tools")));
        assert!(!info.allows(Scope::PublishNew, &name("other")));
        // A line with an unknown scope is not a token regtool manages.
        let bad = text.replace("yank", "steal");
        assert_eq!(managed(&parse_file(&bad)).count(), 0);
        assert_eq!(render_file(&parse_file(&bad)), bad);
    }

    #[test]
    fn patterns_are_checked() {
        for good in ["serde", "acme-*", "*", "a_b*"] {
            assert!(check_pattern(good).is_ok(), "{good}");
        }
        for bad in ["", "a*b", "**", "a b", "é*"] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("ci-publisher_2").is_ok());
        for bad in ["", "a b", "a=b", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
