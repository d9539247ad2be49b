//! The catalogue's pages as text: HTML (escaped with `pulldown-cmark-escape`;
//! READMEs rendered by `pulldown-cmark` and sanitized by `ammonia`), the search
//! data (a script assigning a global, so that `index.html` works from
//! `file://` too) and the Atom feed (RFC 4287).
//!
//! Every link between pages is relative, so the catalogue works wherever the
//! registry is served (any path prefix) and from a folder.

use super::{FeedEntry, State};
use crate::catalogue::meta::VersionMeta;
use crate::config::Settings;
use crate::index::{DepKind, IndexFile, IndexPackage};
use std::fmt::Write as _;

/// `s` escaped for HTML text and double-quoted attribute values (also valid
/// XML): `&`, `<`, `>`, `"`; control characters XML forbids are dropped.
pub fn esc(s: &str) -> String {
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
pub fn readme_html(text: &str, path: &str) -> String {
    if path.to_ascii_lowercase().ends_with(".txt") {
        return format!("<pre>{}</pre>", esc(text));
    }
    use pulldown_cmark::{Options, Parser, html};
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
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title}</title>\n<link rel=\"stylesheet\" href=\"{root}catalogue/style.css\">\n\
<link rel=\"alternate\" type=\"application/atom+xml\" title=\"New versions\" href=\"{root}feed.atom\">\n\
</head>\n<body>\n{body}\n<footer><a href=\"{root}index.html\">All crates</a> · \
<a href=\"{root}feed.atom\">New versions (Atom)</a> · made by regtool</footer>\n</body>\n</html>\n",
        title = esc(title),
    )
}

/// `index.html`: the search box and the list the search script fills in
/// (`?q=` in the URL gives the first query; the form sends it too).
pub fn index_page(settings: &Settings) -> String {
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

/// The search data: `window.REGTOOL_CATALOGUE = {"crates": [[name, latest
/// version, description], ...]};` sorted by name.
pub fn search_index(state: &State) -> String {
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
    let json = serde_json::json!({ "crates": rows });
    format!("window.REGTOOL_CATALOGUE = {json};\n")
}

/// The version a crate page shows: the highest that is not yanked, else the
/// highest (semver order).
pub fn shown_version(index: &IndexFile) -> Option<&IndexPackage> {
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
pub fn crate_page(index: &IndexFile, meta: &VersionMeta, state: &State, settings: &Settings) -> String {
    let Some(pkg) = shown_version(index) else {
        return page("No versions", "../../", "<p>This crate has no versions.</p>");
    };
    let mut b = String::new();
    let name = esc(&pkg.name);
    let vers = esc(&pkg.vers);
    let _ = writeln!(b, "<header><h1>{name} <span class=\"vers\">{vers}</span></h1>");
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
pub fn feed(state: &State, settings: &Settings, now: &str) -> String {
    let url = esc(&settings.url);
    let updated = state.feed.first().map_or(now, |e| e.time.as_str());
    let mut f = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
<title>New crate versions at {url}</title>\n<id>{url}/feed.atom</id>\n\
<link rel=\"self\" href=\"{url}/feed.atom\"/>\n<link rel=\"alternate\" href=\"{url}/index.html\"/>\n\
<author><name>{url}</name></author>\n<generator>regtool</generator>\n<updated>{}</updated>\n",
        esc(updated)
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
