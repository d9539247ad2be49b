//! The catalogue's pages as text: HTML (escaped with `pulldown-cmark-escape`;
//! READMEs rendered by `pulldown-cmark` and sanitized by `ammonia`), the search
//! data (a script assigning a global, so that `index.html` works from
//! `file://` too) and the Atom feed (RFC 4287).
//! Floor 4 (`catalogue`), like the rest of the catalogue.
//!
//! Every link between pages is relative, so the catalogue works wherever the
//! registry is served (any path prefix) and from a folder.

use super::pages::{FeedEntry, State};
use crate::config::Settings;
use crate::index::{DepKind, IndexFile, IndexPackage};
use crate::meta::VersionMeta;
use std::fmt::Write as _;

/// `s` escaped for HTML text and double-quoted attribute values (also valid
/// XML): `&`, `<`, `>`, `"`; control characters XML forbids are dropped.
pub(crate) fn esc(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .collect();
    let mut out = String::with_capacity(clean.len());
    pulldown_cmark_escape::escape_html(&mut out, &clean).expect("writing to a String");
    out
}

/// `url` as a link target when it is an `http(s)` URL (anything else, such as
/// `javascript:`, is shown as text only).
fn link(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        format!(
            "<a href=\"{}\" rel=\"nofollow noopener\">{}</a>",
            esc(url),
            esc(url)
        )
    } else {
        esc(url)
    }
}

/// A README as safe HTML: Markdown (CommonMark with tables, strikethrough,
/// task lists and footnotes) unless `path` ends in `.txt` (then preformatted
/// text); the result is cleaned by ammonia's default allow-list (no script,
/// style, event handler or `javascript:` URL survives), relative URLs
/// (pointing into a repository this page cannot see) removed.
pub(crate) fn readme_html(text: &str, path: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    if path.to_ascii_lowercase().ends_with(".txt") {
        return format!("<pre>{}</pre>", esc(text));
    }
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let mut raw = String::new();
    html::push_html(&mut raw, Parser::new_ext(text, opts));
    ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::Deny)
        .clean(&raw)
        .to_string()
}

/// A whole page: `root` is the relative path from the page to the registry's
/// top (`""` or `"../../"`).
fn page(title: &str, root: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n{mark}\n\
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
pub(crate) fn index_page(settings: &Settings) -> String {
    let body = format!(
        "<header><h1>Crates</h1>\n<p>Cargo index: <code>sparse+{url}/</code></p></header>\n\
<form id=\"search\" action=\"index.html\" method=\"get\" role=\"search\">\n\
<input id=\"q\" name=\"q\" type=\"search\" placeholder=\"Search crates by name or description\" \
aria-label=\"Search crates\" autocomplete=\"off\">\n</form>\n\
<p id=\"count\"></p>\n<ul id=\"results\"></ul>\n\
<noscript><p>The search needs JavaScript. Every crate has a page at \
<code>catalogue/crates/NAME.html</code>.</p></noscript>\n\
<script src=\"catalogue/search-index.js\"></script>\n<script src=\"catalogue/search.js\"></script>",
        url = esc(&settings.url)
    );
    page("Crates", "", &body)
}

/// What the search data starts with (then JSON, then [`SEARCH_SUFFIX`]).
pub(crate) const SEARCH_PREFIX: &str = "window.REGTOOL_CATALOGUE = ";
/// What the search data ends with.
pub(crate) const SEARCH_SUFFIX: &str = ";\n";

/// The search data: `window.REGTOOL_CATALOGUE = {"crates": [[name, latest
/// version, description], ...]};` sorted by canonical name (description `""`
/// when there is none).
pub(crate) fn search_index(state: &State) -> String {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        crates: Vec<[&'a str; 3]>,
    }
    let rows: Vec<[&str; 3]> = state
        .crates
        .values()
        .map(|c| {
            [
                c.name.as_str(),
                c.latest.as_str(),
                c.description.as_deref().unwrap_or(""),
            ]
        })
        .collect();
    let json = serde_json::to_string(&Out { crates: rows }).expect("search data serializes");
    format!("{SEARCH_PREFIX}{json}{SEARCH_SUFFIX}")
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

/// The page of one crate (`catalogue/crates/{name}.html`): `index` is its
/// index file, `meta` the metadata of the version shown, `state` the
/// catalogue (to link dependencies in this registry).
pub(crate) fn crate_page(
    index: &IndexFile,
    meta: &VersionMeta,
    state: &State,
    settings: &Settings,
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
    let _ = writeln!(
        b,
        "<pre class=\"install\">cargo add {name}@{vers} --index sparse+{}/</pre></header>",
        esc(&settings.url)
    );
    b.push_str("<dl class=\"facts\">\n");
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

    if let Some(text) = &meta.readme {
        let path = meta.readme_path.as_deref().unwrap_or("README.md");
        let _ = writeln!(
            b,
            "<section class=\"readme\" id=\"readme\">\n{}\n</section>",
            readme_html(text, path)
        );
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
                Some(url) => settings.is_own_index(url),
            };
            let target = here
                .then(|| state.crates.get(&crate::name::canonical(package)))
                .flatten();
            let shown = match target {
                Some(t) => format!("<a href=\"{}.html\">{}</a>", esc(&t.name), esc(&d.name)),
                None => esc(&d.name),
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
            if let Some(r) = d.registry.as_deref().filter(|_| target.is_none()) {
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
    page(&format!("{} {}", pkg.name, pkg.vers), "../../", &b)
}

/// The Atom feed of the newest versions (`feed.atom`): ids and links are
/// absolute, from the registry's URL.
pub(crate) fn feed(state: &State, settings: &Settings, now: &str) -> String {
    let url = esc(&settings.url);
    let updated = state.feed.first().map_or(now, |e| e.time.as_str());
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
    } in &state.feed
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
    use crate::catalogue::pages::CrateSummary;

    fn settings() -> Settings {
        Settings::new("http://h:1/reg".into())
    }

    fn index(lines: &[&str]) -> IndexFile {
        IndexFile::parse(std::path::Path::new("x"), lines.join("\n").as_bytes()).unwrap()
    }

    const A1: &str = r#"{"name":"a<b","vers":"1.0.0","deps":[{"name":"dep","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"},{"name":"other","req":"^2","features":[],"optional":true,"default_features":true,"target":null,"kind":"normal"}],"cksum":"00","features":{"x":["dep/y"]},"yanked":false,"pubtime":"2026-01-01T00:00:00Z"}"#;
    const A2: &str =
        r#"{"name":"a<b","vers":"2.0.0","deps":[],"cksum":"01","features":{},"yanked":true}"#;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&</a>\u{0}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn readme_is_rendered_and_sanitized() {
        let html = readme_html(
            "# Title\n\n*em* [rel](docs/x.md) [js](javascript:alert(1)) [ok](https://e.org)\n\n\
<script>alert('x')</script>\n<img src=\"https://e.org/i.png\" onerror=\"alert(2)\">\n\n| a |\n|---|\n| b |\n",
            "README.md",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>em</em>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("href=\"https://e.org\""), "{html}");
        for bad in [
            "<script",
            "alert('x')",
            "javascript:",
            "onerror",
            "docs/x.md",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert_eq!(
            readme_html("<b>x</b>", "README.txt"),
            "<pre>&lt;b&gt;x&lt;/b&gt;</pre>"
        );
    }

    #[test]
    fn crate_page_shows_versions_deps_and_escapes() {
        let idx = index(&[A1, A2]);
        assert_eq!(
            shown_version(&idx).unwrap().vers,
            "1.0.0",
            "not the yanked 2.0.0"
        );
        let mut state = State::default();
        state.crates.insert(
            "dep".into(),
            CrateSummary {
                name: "Dep".into(),
                latest: "1.0.0".into(),
                description: None,
            },
        );
        let meta = VersionMeta {
            description: Some("An <a>".into()),
            repository: Some("javascript:alert(1)".into()),
            homepage: Some("https://e.org/?a=1&b=2".into()),
            ..Default::default()
        };
        let html = crate_page(&idx, &meta, &state, &settings());
        assert!(
            html.contains("<h1>a&lt;b <span class=\"vers\">1.0.0</span></h1>"),
            "{html}"
        );
        assert!(html.contains("An &lt;a&gt;"));
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(html.contains("href=\"https://e.org/?a=1&amp;b=2\""));
        assert!(
            html.contains("<a href=\"Dep.html\">dep</a> <code>^1</code>"),
            "{html}"
        );
        assert!(
            html.contains("<li>other <code>^2</code> <span class=\"note\">(optional)</span>"),
            "{html}"
        );
        assert!(
            html.contains("<tr id=\"v2.0.0\" class=\"yanked\">"),
            "{html}"
        );
        assert!(html.contains("<time datetime=\"2026-01-01T00:00:00Z\">"));
        assert!(html.contains("<code>x</code> = <code>dep/y</code>"));
    }

    #[test]
    fn feed_is_valid_atom() {
        let mut state = State::default();
        state.feed.push(FeedEntry {
            name: "a".into(),
            vers: "1.0.0".into(),
            time: "2026-01-01T00:00:00Z".into(),
            description: Some("x < y & \"z\"\u{1}".into()),
        });
        let xml = feed(&state, &settings(), "2026-02-01T00:00:00Z");
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
        assert_eq!(text("feed/entry/summary"), "x &lt; y &amp; &quot;z&quot;");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    }

    #[test]
    fn search_index_is_a_script_with_json() {
        let mut state = State::default();
        state.crates.insert(
            "a".into(),
            CrateSummary {
                name: "a".into(),
                latest: "1.0.0".into(),
                description: Some("</script>\"".into()),
            },
        );
        let js = search_index(&state);
        let json = js
            .strip_prefix("window.REGTOOL_CATALOGUE = ")
            .and_then(|s| s.strip_suffix(";\n"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            v["crates"][0],
            serde_json::json!(["a", "1.0.0", "</script>\""])
        );
    }
}
