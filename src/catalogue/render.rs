//! The catalogue's pages as text: HTML (escaped with `pulldown-cmark-escape`;
//! READMEs rendered by `pulldown-cmark` and sanitized by `ammonia`), the search
//! data (a script assigning a global, so that `index.html` works from
//! `file://` too) and the Atom feed (RFC 4287).
//! Floor 4 (`catalogue`), like the rest of the catalogue.
//!
//! Every link between pages is relative, so the catalogue works wherever the
//! registry is served (any path prefix) and from a folder.

use super::pages::FeedEntry;
use crate::config::{RegistryConfig, Settings, normalize_url};
use crate::index::{DepKind, IndexFile, IndexPackage};
use crate::meta::VersionMeta;
use crate::name::CrateName;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` may stand in every file the catalogue writes: HTML text and
/// attribute values, where a control other than ASCII whitespace (C0, DEL,
/// C1) or a noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) is a parse
/// error, and XML 1.0, whose `Char` production has no control but tab, line
/// feed and carriage return, nor U+FFFE and U+FFFF. (A `&str` holds no lone
/// surrogate: lossy decoding made it U+FFFD already.) Sources:
/// <https://html.spec.whatwg.org/multipage/parsing.html#preprocessing-the-input-stream>,
/// <https://www.w3.org/TR/xml/#charsets>.
pub(crate) fn allowed(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        _ if c.is_control() => false,
        '\u{FDD0}'..='\u{FDEF}' => false,
        _ => u32::from(c) & 0xFFFE != 0xFFFE,
    }
}

/// Whether the UTF-8 `bytes` hold a character not [`allowed`]: one pass
/// over the bytes, decoding nothing (C1 controls are `C2 80..=9F`, U+FDD0 to
/// U+FDEF `EF B7 90..=AF`, U+xFFFE and U+xFFFF end in `BF BE` or `BF BF`).
fn has_disallowed(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let bad = match b {
            b'\t' | b'\n' | b'\r' => false,
            0x00..=0x1f | 0x7f => true,
            0xc2 => matches!(bytes.get(i + 1), Some(0x80..=0x9f)),
            0xef => matches!(
                (bytes.get(i + 1), bytes.get(i + 2)),
                (Some(0xb7), Some(0x90..=0xaf)) | (Some(0xbf), Some(0xbe | 0xbf))
            ),
            0xf0..=0xf4 => matches!(
                (bytes.get(i + 1), bytes.get(i + 2), bytes.get(i + 3)),
                (Some(b1), Some(0xbf), Some(0xbe | 0xbf)) if b1 & 0x0f == 0x0f
            ),
            _ => false,
        };
        if bad {
            return true;
        }
        i += 1;
    }
    false
}

/// `s` with every character not [`allowed`] replaced by U+FFFD (borrowed
/// when there is none).
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !has_disallowed(s.as_bytes()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.replace(|c: char| !allowed(c), "\u{FFFD}"))
}

/// `s` escaped for HTML text and double-quoted attribute values (also valid
/// XML): `&`, `<`, `>`, `"`; characters not [`allowed`] become U+FFFD.
pub(crate) fn esc(s: &str) -> String {
    let clean = clean(s);
    let mut out = String::with_capacity(clean.len());
    pulldown_cmark_escape::escape_html(&mut out, &clean).expect("writing to a String");
    out
}

/// `url` as a link target when it is an `http(s)` URL (anything else, such as
/// `javascript:`, is shown as text only).
fn link(url: &str) -> String {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!(
            "<a href=\"{}\" rel=\"nofollow noopener\">{}</a>",
            esc(url.trim_start()),
            esc(url)
        )
    } else {
        esc(url)
    }
}

/// What the pages say about the registry itself: where it is served, the
/// name cargo knows it by, and how to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    /// The URL it is served at (no trailing `/`).
    pub(crate) url: String,
    /// The name in cargo's `[registries]` table (`--registry NAME`).
    pub(crate) name: String,
    /// Whether cargo must send a token (`config.json`'s `auth-required`).
    pub(crate) auth_required: bool,
    /// Whether it replaces crates.io (source replacement).
    pub(crate) mirror: bool,
    /// Other URLs it is known by (a dependency on one of them is on it).
    pub(crate) aliases: Vec<String>,
}

impl Site {
    /// The site of a registry with `settings` and `config` (`config.json`).
    pub(crate) fn new(settings: &Settings, config: &RegistryConfig) -> Site {
        Site {
            url: settings.url.clone(),
            name: settings.registry_name().to_string(),
            auth_required: config.auth_required,
            mirror: settings.mirror,
            aliases: settings.aliases.clone(),
        }
    }

    /// Whether `registry_index` (a dependency's `registry`) is this registry.
    pub(crate) fn is_own_index(&self, registry_index: &str) -> bool {
        let want = normalize_url(registry_index);
        std::iter::once(&self.url)
            .chain(self.aliases.iter())
            .any(|u| normalize_url(u) == want)
    }

    /// What a page's fingerprint takes from the site: every field.
    pub(crate) fn digest_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.url,
            self.name,
            self.auth_required,
            self.mirror,
            self.aliases.join(" ")
        )
    }
}

/// A whole page: `root` is the relative path from the page to the registry's
/// top (`""` or `"../../"`). Every text in `title` and `body` is [`esc`]aped
/// (or, for a README, [`clean`]ed), so the page holds only characters HTML
/// allows.
fn page(title: &str, root: &str, body: &str) -> String {
    page_with(title, root, "", body)
}

/// [`page`] with `head` (markup of ours, put right after [`super::HTML_MARK`]).
fn page_with(title: &str, root: &str, head: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n{mark}\n{head}\
<title>{title}</title>\n<link rel=\"stylesheet\" href=\"{root}catalogue/style.css\">\n\
<link rel=\"alternate\" type=\"application/atom+xml\" title=\"New versions\" href=\"{root}feed.atom\">\n\
</head>\n<body>\n{body}\n<footer><a href=\"{root}index.html\">All crates</a> · \
<a href=\"{root}feed.atom\">New versions (Atom)</a> · made by regtool</footer>\n</body>\n</html>\n",
        title = esc(title),
        mark = super::HTML_MARK,
    )
}

/// `index.html`: the search box and the list the search script fills in
/// (`?q=` in the URL gives the first query; the form sends it too).
pub(crate) fn index_page(site: &Site) -> String {
    let body = format!(
        "<header><h1>Crates</h1>\n<p>Cargo index: <code>sparse+{url}/</code> \
(<a href=\"#use\">how to use it</a>)</p></header>\n\
<form id=\"search\" action=\"index.html\" method=\"get\" role=\"search\">\n\
<input id=\"q\" name=\"q\" type=\"search\" placeholder=\"Search crates by name or description\" \
aria-label=\"Search crates\" autocomplete=\"off\">\n</form>\n\
<p id=\"count\"></p>\n<ul id=\"results\"></ul>\n\
<noscript><p>The search needs JavaScript. Every crate has a page at \
<code>catalogue/crates/NAME.html</code>.</p></noscript>\n{use_it}\n\
<script src=\"catalogue/search-index.js\"></script>\n<script src=\"catalogue/search.js\"></script>",
        url = esc(&site.url),
        use_it = use_section(site, None),
    );
    page("Crates", "", &body)
}

/// How to use the registry from cargo, as cargo accepts it verbatim: the
/// `.cargo/config.toml` lines (`[registries.NAME]`, or source replacement
/// for a mirror; the credential provider cargo needs to send a token when
/// the registry requires one), `cargo login`, and `cargo add` of `krate`
/// (`(name, version)`) when given. Source:
/// <https://doc.rust-lang.org/cargo/reference/registries.html>,
/// <https://doc.rust-lang.org/cargo/reference/registry-authentication.html>.
fn use_section(site: &Site, krate: Option<(&str, &str)>) -> String {
    let name = esc(&site.name);
    let index = format!("sparse+{}/", esc(&site.url));
    let mut config = if site.mirror {
        format!(
            "[source.crates-io]\nreplace-with = \"{name}\"\n\n[source.{name}]\nregistry = \"{index}\"\n"
        )
    } else {
        format!("[registries.{name}]\nindex = \"{index}\"\n")
    };
    if site.auth_required {
        if site.mirror {
            let _ = write!(config, "\n[registries.{name}]\nindex = \"{index}\"\n");
        }
        config.push_str("\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    }
    let mut b = format!(
        "<section class=\"use\" id=\"use\">\n<h2>Use this registry</h2>\n\
<p>In <code>.cargo/config.toml</code> (your project's or <code>~/.cargo/config.toml</code>):</p>\n\
<pre class=\"config\">{config}</pre>\n"
    );
    if site.auth_required {
        let _ = writeln!(
            b,
            "<p>It needs a token (ask the registry's owner for one); store it once with</p>\n\
<pre class=\"login\">cargo login --registry {name}</pre>"
        );
    }
    if let Some((krate, vers)) = krate {
        let registry = if site.mirror {
            String::new()
        } else {
            format!(" --registry {name}")
        };
        let _ = writeln!(
            b,
            "<p>Then, in your project:</p>\n<pre class=\"install\">cargo add {}@{}{registry}</pre>",
            esc(krate),
            esc(vers)
        );
    }
    b.push_str("</section>");
    b
}

/// What the search data starts with (then one row per line, see
/// [`search_row`], joined by `,\n`; then [`SEARCH_SUFFIX`]): a script
/// assigning a global, so that `index.html` works from `file://` too, whose
/// part after `= ` and before the final `;` is JSON.
pub(crate) const SEARCH_PREFIX: &str = "window.REGTOOL_CATALOGUE = {\"crates\":[\n";
/// What the search data ends with.
pub(crate) const SEARCH_SUFFIX: &str = "\n]};\n";

/// One crate in the search data: a JSON array `[name, latest version,
/// description]` on one line (description `""` when there is none).
pub(crate) fn search_row(name: &str, latest: &str, description: Option<&str>) -> String {
    let row = [clean(name), clean(latest), clean(description.unwrap_or(""))];
    serde_json::to_string(&row).expect("search row serializes")
}

/// The search data (see [`SEARCH_PREFIX`]) of `rows` (from [`search_row`],
/// sorted by canonical name).
pub(crate) fn search_index<'a>(rows: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from(SEARCH_PREFIX);
    for (i, row) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(row);
    }
    out.push_str(SEARCH_SUFFIX);
    out
}

/// The version a crate page shows: the highest that is not yanked, else the
/// highest (semver order).
pub(crate) fn shown_version(index: &IndexFile) -> Option<&IndexPackage> {
    let highest = |yanked_too: bool| {
        index
            .lines
            .iter()
            .map(|l| &l.package)
            .filter(|p| yanked_too || !p.yanked)
            .max_by(|a, b| match (a.version(), b.version()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => a.vers.cmp(&b.vers),
            })
    };
    highest(false).or_else(|| highest(true))
}

/// What opens a crate page's record (see [`crate_page`]), an HTML comment
/// in the page's `<head>`, after [`super::HTML_MARK`], where every text
/// before it is escaped, so that its first occurrence is the record.
pub(crate) const RECORD_OPEN: &str = "<!--regtool-record ";
/// What closes a crate page's record.
pub(crate) const RECORD_CLOSE: &str = "-->\n";
/// What the README section of a crate page opens with: its first
/// occurrence in the page is the section (every text before it is escaped).
pub(crate) const README_OPEN: &str = "<section class=\"readme\" id=\"readme\">\n";
/// What the README section of a crate page closes with.
pub(crate) const README_CLOSE: &str = "\n</section>\n";

/// The JSON text `json` (compact, as `serde_json` writes it, of a value
/// whose keys and numbers hold no `-`) made fit to stand inside an HTML
/// comment: `<`, `>`, `-`, `&` and every character not [`allowed`] in HTML
/// are written as `\uXXXX` escapes (they then stand only in strings, where
/// an escape means the same character), so that no text can end the
/// comment (`-->`, `--!>`), nest one (`<!--`), or be a parse error. Source:
/// <https://html.spec.whatwg.org/multipage/syntax.html#comments>.
pub(crate) fn comment_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if matches!(c, '<' | '>' | '-' | '&') || !allowed(c) {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The page of one crate (`catalogue/crates/{name}.html`): `index` is its
/// index file, `meta` the metadata of the version shown, `readme` its
/// README as HTML ([`super::readme::readme_html`]) and `record` what the
/// page carries about itself (JSON made fit by [`comment_json`], between
/// [`RECORD_OPEN`] and [`RECORD_CLOSE`] in its head; see
/// `pages::Record`). A page depends on nothing else (a dependency in this
/// registry links to its page by name), so that it changes only with its
/// index file and the site.
pub(crate) fn crate_page(
    index: &IndexFile,
    meta: &VersionMeta,
    readme: Option<&str>,
    record: &str,
    site: &Site,
) -> String {
    let Some(pkg) = shown_version(index) else {
        return page(
            "No versions",
            "../../",
            "<p>This crate has no versions.</p>",
        );
    };
    let mut b = String::new();
    let name = esc(&pkg.name);
    let vers = esc(&pkg.vers);
    let _ = writeln!(
        b,
        "<header><h1>{name} <span class=\"vers\">{vers}</span></h1>"
    );
    if let Some(d) = &meta.description {
        let _ = writeln!(b, "<p class=\"desc\">{}</p>", esc(d));
    }
    b.push_str("</header>\n<dl class=\"facts\">\n");
    let mut fact = |k: &str, v: String| {
        let _ = writeln!(b, "<dt>{k}</dt><dd>{v}</dd>");
    };
    if let Some(l) = &meta.license {
        fact("License", esc(l));
    } else if let Some(l) = &meta.license_file {
        fact("License file", esc(l));
    }
    for (k, v) in [
        ("Repository", &meta.repository),
        ("Homepage", &meta.homepage),
        ("Documentation", &meta.documentation),
    ] {
        if let Some(v) = v {
            fact(k, link(v));
        }
    }
    if let Some(rv) = &pkg.rust_version {
        fact("MSRV", format!("Rust {}", esc(rv)));
    }
    if let Some(l) = &pkg.links {
        fact("Links", format!("<code>{}</code>", esc(l)));
    }
    if !meta.keywords.is_empty() {
        let kw: Vec<String> = meta.keywords.iter().map(|k| esc(k)).collect();
        fact("Keywords", kw.join(", "));
    }
    b.push_str("</dl>\n");
    b.push_str(&use_section(site, Some((&pkg.name, &pkg.vers))));
    b.push('\n');

    if let Some(html) = readme {
        let _ = write!(b, "{README_OPEN}{html}{README_CLOSE}");
    }

    let mut features: Vec<(&String, &Vec<String>)> = pkg.features.iter().collect();
    features.extend(pkg.features2.iter().flatten());
    features.sort();
    if !features.is_empty() {
        b.push_str("<h2 id=\"features\">Features</h2>\n<ul class=\"features\">\n");
        for (f, enables) in features {
            let list: Vec<String> = enables.iter().map(|e| esc(e)).collect();
            let _ = writeln!(
                b,
                "<li><code>{}</code>{}</li>",
                esc(f),
                if list.is_empty() {
                    String::new()
                } else {
                    format!(" = <code>{}</code>", list.join("</code>, <code>"))
                }
            );
        }
        b.push_str("</ul>\n");
    }

    for (kind, title) in [
        (DepKind::Normal, "Dependencies"),
        (DepKind::Build, "Build dependencies"),
        (DepKind::Dev, "Dev dependencies"),
    ] {
        let mut deps: Vec<_> = pkg.deps.iter().filter(|d| d.kind == kind).collect();
        if deps.is_empty() {
            continue;
        }
        deps.sort_by(|a, b| a.name.cmp(&b.name));
        let _ = writeln!(
            b,
            "<h2 id=\"{}\">{title}</h2>\n<ul class=\"deps\">",
            kind.as_str()
        );
        for d in deps {
            let package = d.package.as_deref().unwrap_or(&d.name);
            let here = match &d.registry {
                None => true, // this registry (or crates.io, which a mirror holds)
                Some(url) => site.is_own_index(url),
            };
            // Only a valid crate name becomes a link (never a scheme or a path).
            let linked = here && CrateName::new(package).is_ok();
            let shown = if linked {
                format!("<a href=\"{}.html\">{}</a>", esc(package), esc(&d.name))
            } else {
                esc(&d.name)
            };
            let mut notes = Vec::new();
            if d.package.is_some() {
                notes.push(format!("package <code>{}</code>", esc(package)));
            }
            if d.optional {
                notes.push("optional".to_string());
            }
            if let Some(t) = &d.target {
                notes.push(format!("on <code>{}</code>", esc(t)));
            }
            if let Some(r) = d.registry.as_deref().filter(|_| !here) {
                notes.push(format!("from <code>{}</code>", esc(r)));
            }
            let _ = writeln!(
                b,
                "<li>{shown} <code>{}</code>{}</li>",
                esc(&d.req),
                if notes.is_empty() {
                    String::new()
                } else {
                    format!(" <span class=\"note\">({})</span>", notes.join(", "))
                }
            );
        }
        b.push_str("</ul>\n");
    }

    b.push_str(
        "<h2 id=\"versions\">Versions</h2>\n<table class=\"versions\">\n\
<thead><tr><th>Version</th><th>Published</th><th></th><th>Download</th></tr></thead>\n<tbody>\n",
    );
    let mut lines: Vec<&IndexPackage> = index.lines.iter().map(|l| &l.package).collect();
    lines.sort_by(|a, b| match (a.version(), b.version()) {
        (Ok(x), Ok(y)) => y.cmp(&x),
        _ => b.vers.cmp(&a.vers),
    });
    for p in lines {
        let v = esc(&p.vers);
        let _ = writeln!(
            b,
            "<tr id=\"v{v}\"{}><td>{v}</td><td>{}</td><td>{}</td>\
<td><a href=\"../../crates/{n}/{n}-{v}.crate\">.crate</a></td></tr>",
            if p.yanked { " class=\"yanked\"" } else { "" },
            p.pubtime
                .as_deref()
                .map(|t| format!("<time datetime=\"{0}\">{0}</time>", esc(t)))
                .unwrap_or_default(),
            if p.yanked { "yanked" } else { "" },
            n = esc(&p.name),
        );
    }
    b.push_str("</tbody>\n</table>");
    let head = format!("{RECORD_OPEN}{record}{RECORD_CLOSE}");
    page_with(&format!("{} {}", pkg.name, pkg.vers), "../../", &head, &b)
}

/// The Atom feed of the newest versions (`feed.atom`): ids and links are
/// absolute, from the registry's URL; every text is [`esc`]aped, so that
/// the feed is well-formed XML 1.0 for any input (RFC 4287).
pub(crate) fn feed(entries: &[FeedEntry], site: &Site, now: &str) -> String {
    let url = esc(&site.url);
    let updated = entries.first().map_or(now, |e| e.time.as_str());
    let mut f = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
<title>New crate versions at {url}</title>\n<id>{url}/feed.atom</id>\n\
<link rel=\"self\" href=\"{url}/feed.atom\"/>\n<link rel=\"alternate\" href=\"{url}/index.html\"/>\n\
<author><name>{url}</name></author>\n{mark}\n<updated>{}</updated>\n",
        esc(updated),
        mark = super::FEED_MARK,
    );
    for FeedEntry {
        name,
        vers,
        time,
        description,
    } in entries
    {
        let page = format!("{url}/catalogue/crates/{}.html", esc(name));
        let _ = writeln!(
            f,
            "<entry>\n<title>{n} {v}</title>\n<id>{page}#v{v}</id>\n\
<link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n<updated>{t}</updated>\n{s}</entry>",
            n = esc(name),
            v = esc(vers),
            t = esc(time),
            s = description
                .as_deref()
                .map(|d| format!("<summary>{}</summary>\n", esc(d)))
                .unwrap_or_default(),
        );
    }
    f.push_str("</feed>\n");
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        let settings = Settings::new("http://h:1/reg".into());
        Site::new(
            &settings,
            &RegistryConfig::for_base_url(&settings.url, false),
        )
    }

    fn index(lines: &[&str]) -> IndexFile {
        IndexFile::parse(std::path::Path::new("x"), lines.join("\n").as_bytes()).unwrap()
    }

    const A1: &str = r#"{"name":"a<b","vers":"1.0.0","deps":[{"name":"dep","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"},{"name":"other","req":"^2","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal","registry":"https://elsewhere.example.com/index"},{"name":"js","package":"javascript:alert(1)","req":"^2","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],"cksum":"00","features":{"x":["dep/y"]},"yanked":false,"pubtime":"2026-01-01T00:00:00Z"}"#;
    const A2: &str =
        r#"{"name":"a<b","vers":"2.0.0","deps":[],"cksum":"01","features":{},"yanked":true}"#;

    /// XML 1.0's `Char` production.
    fn xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }

    #[test]
    fn text_is_escaped_and_made_valid() {
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
        // Controls (C0 but tab, newlines; DEL; C1) and noncharacters.
        for bad in [
            '\u{0}',
            '\u{1}',
            '\u{b}',
            '\u{c}',
            '\u{1f}',
            '\u{7f}',
            '\u{85}',
            '\u{9f}',
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{1FFFE}',
            '\u{10FFFF}',
        ] {
            assert!(!allowed(bad), "{bad:?}");
            assert_eq!(esc(&format!("a{bad}b")), "a\u{FFFD}b", "{bad:?}");
        }
        for good in [
            '\t',
            '\n',
            '\r',
            ' ',
            'é',
            '\u{A0}',
            '\u{FFFD}',
            '\u{1F600}',
            '\u{10FFFD}',
        ] {
            assert!(allowed(good) && xml_char(good), "{good:?}");
        }
        // The byte scan agrees with the characters, everywhere.
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(has_disallowed(text.as_bytes()), !allowed(c), "{c:?}");
        }
        assert!(matches!(clean("plain ascii"), Cow::Borrowed(_)));
        assert!(matches!(clean("grüße"), Cow::Borrowed(_)));
    }

    #[test]
    fn crate_page_shows_versions_deps_and_how_to_use_it() {
        let idx = index(&[A1, A2]);
        assert_eq!(
            shown_version(&idx).unwrap().vers,
            "1.0.0",
            "not the yanked 2.0.0"
        );
        let meta = VersionMeta {
            description: Some("An <a>\u{FFFE}".into()),
            repository: Some("javascript:alert(1)".into()),
            homepage: Some("https://e.org/?a=1&b=2".into()),
            ..Default::default()
        };
        let html = crate_page(&idx, &meta, Some("<p>readme</p>"), "{}", &site());
        assert!(
            html.contains("<h1>a&lt;b <span class=\"vers\">1.0.0</span></h1>"),
            "{html}"
        );
        assert!(html.contains("An &lt;a&gt;\u{FFFD}"));
        assert!(!html.contains('\u{FFFE}'));
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(html.contains("href=\"https://e.org/?a=1&amp;b=2\""));
        // A dependency in this registry links to its page; others do not.
        assert!(
            html.contains("<a href=\"dep.html\">dep</a> <code>^1</code>"),
            "{html}"
        );
        assert!(
            html.contains("<li>other <code>^2</code> <span class=\"note\">(optional, from <code>https://elsewhere.example.com/index</code>)</span>"),
            "{html}"
        );
        assert!(html.contains("<li>js <code>^2</code>"), "{html}");
        assert!(
            html.contains("<tr id=\"v2.0.0\" class=\"yanked\">"),
            "{html}"
        );
        assert!(html.contains("<time datetime=\"2026-01-01T00:00:00Z\">"));
        assert!(html.contains("<code>x</code> = <code>dep/y</code>"));
        assert!(html.contains("<section class=\"readme\" id=\"readme\">\n<p>readme</p>"));
        // How to use it, as cargo takes it (tests/it/catalogue.rs runs it).
        assert!(
            html.contains(
                "<pre class=\"config\">[registries.h]\nindex = \"sparse+http://h:1/reg/\"\n</pre>"
            ),
            "{html}"
        );
        assert!(html.contains("<pre class=\"install\">cargo add a&lt;b@1.0.0 --registry h</pre>"));
        assert!(!html.contains("cargo login"));
    }

    #[test]
    fn private_and_mirror_registries_say_how_to_log_in() {
        let mut s = site();
        s.auth_required = true;
        let html = use_section(&s, Some(("a", "1.0.0")));
        assert!(
            html.contains("global-credential-providers = [\"cargo:token\"]"),
            "{html}"
        );
        assert!(html.contains("cargo login --registry h"), "{html}");
        s.mirror = true;
        s.auth_required = false;
        let html = use_section(&s, Some(("a", "1.0.0")));
        assert!(
            html.contains("[source.crates-io]\nreplace-with = \"h\""),
            "{html}"
        );
        assert!(html.contains("cargo add a@1.0.0</pre>"), "{html}");
    }

    #[test]
    fn feed_is_well_formed_xml_for_any_text() {
        let entries = [FeedEntry {
            name: "a".into(),
            vers: "1.0.0".into(),
            time: "2026-01-01T00:00:00Z".into(),
            description: Some("x < y & \"z\"\u{1}\u{FFFE}\u{FFFF}".into()),
        }];
        let xml = feed(&entries, &site(), "2026-02-01T00:00:00Z");
        // quick-xml takes a raw U+FFFE: check XML's characters explicitly.
        assert!(xml.chars().all(xml_char), "{xml:?}");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut path = Vec::new();
        let mut seen = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                quick_xml::events::Event::Start(e) => path.push(e.name().as_ref().to_string()),
                quick_xml::events::Event::End(_) => {
                    path.pop();
                }
                quick_xml::events::Event::Text(t) => {
                    seen.push((path.join("/"), AsRef::<str>::as_ref(&t).to_string()))
                }
                quick_xml::events::Event::GeneralRef(r) => {
                    seen.push((path.join("/"), format!("&{};", AsRef::<str>::as_ref(&r))))
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        let text = |p: &str| -> String {
            seen.iter()
                .filter(|(k, _)| k == p)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(text("feed/id"), "http://h:1/reg/feed.atom");
        assert_eq!(text("feed/updated"), "2026-01-01T00:00:00Z");
        assert_eq!(text("feed/entry/title"), "a 1.0.0");
        assert_eq!(
            text("feed/entry/id"),
            "http://h:1/reg/catalogue/crates/a.html#v1.0.0"
        );
        assert_eq!(
            text("feed/entry/summary"),
            "x &lt; y &amp; &quot;z&quot;\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    }

    #[test]
    fn search_data_is_a_script_with_json_one_crate_a_line() {
        let rows = [
            search_row("a", "1.0.0", Some("</script>\"\n\u{FFFF}")),
            search_row("b", "2.0.0", None),
        ];
        let js = search_index(rows.iter().map(String::as_str));
        assert_eq!(js.lines().count(), 4, "{js}");
        let json = js
            .strip_prefix("window.REGTOOL_CATALOGUE = ")
            .and_then(|s| s.strip_suffix(";\n"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            v["crates"],
            serde_json::json!([["a", "1.0.0", "</script>\"\n\u{FFFD}"], ["b", "2.0.0", ""]])
        );
        let empty = search_index([]);
        let json = &empty["window.REGTOOL_CATALOGUE = ".len()..empty.len() - 2];
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(json).unwrap()["crates"],
            serde_json::json!([])
        );
    }
}
