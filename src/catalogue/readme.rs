//! A crate's README as safe HTML, in time linear in its size. Floor 4
//! (`catalogue`).
//!
//! Markdown is rendered by `pulldown-cmark` and sanitized by `ammonia`.
//! ammonia builds the whole HTML tree (`html5ever`), whose tree builder
//! spends time in proportion to the depth of the tree for every element:
//! a README of 64 KB of nested blockquotes took seconds, 512 KiB minutes.
//! So before ammonia sees anything, two linear passes bound the work:
//! the Markdown events (at most [`MAX_EVENTS`], nested at most
//! [`MAX_NESTING`] deep), then, when the README holds raw HTML, the whole
//! HTML they make through `html5ever`'s tokenizer (linear; no tree),
//! modelling the open elements and the formatting elements the tree builder
//! would reopen. (Without raw HTML, pulldown-cmark's HTML nests exactly as
//! its events do.) A README beyond either budget is shown as escaped plain
//! text in a `<pre>`.
//!
//! Most READMEs hold no raw HTML but comments. For those, pulldown-cmark's HTML is
//! sanitized without building a tree ([`fast`]): the same bytes ammonia
//! would give, in a fraction of the time; anything that one-pass model does
//! not cover goes to ammonia.

use super::render::{clean, esc};
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    states::RawKind,
};
use std::cell::{Cell, RefCell};
use std::sync::LazyLock;

mod fast;

/// Deepest nesting rendered: open elements plus formatting elements the
/// HTML tree builder would reopen (see the module docs). Real READMEs stay
/// well under 20.
pub(crate) const MAX_NESTING: usize = 48;
/// Most Markdown events rendered (a 512 KiB README of ordinary prose makes
/// far fewer).
pub(crate) const MAX_EVENTS: usize = 500_000;

/// A README as safe HTML: Markdown (CommonMark with tables, strikethrough,
/// task lists and footnotes) unless `path` ends in `.txt` (then preformatted
/// text); sanitized by ammonia's default allow-list (no script, style,
/// event handler or `javascript:` URL survives), relative URLs (pointing
/// into a repository this page cannot see) removed, every character HTML
/// does not allow replaced ([`clean`]). Beyond the budgets
/// ([`MAX_NESTING`], [`MAX_EVENTS`]): [`plain`].
pub(crate) fn readme_html(text: &str, path: &str) -> String {
    if path.to_ascii_lowercase().ends_with(".txt") {
        return format!("<pre>{}</pre>", esc(text));
    }
    let Some((raw, html)) = markdown(text) else {
        return plain(text);
    };
    if html != RawHtml::None && !within_budget(&raw) {
        return plain(text);
    }
    let html = if html == RawHtml::Other {
        sanitized(&raw)
    } else {
        fast::sanitize(&raw).unwrap_or_else(|| sanitized(&raw))
    };
    // html5ever decodes `&#xFFFE;` and `&#1;` into the characters themselves.
    match clean(&html) {
        std::borrow::Cow::Borrowed(_) => html,
        std::borrow::Cow::Owned(cleaned) => cleaned,
    }
}

/// ammonia's default allow-list with relative URLs removed, built once (its
/// sets of tags, attributes and schemes are hash sets).
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.url_relative(ammonia::UrlRelative::Deny);
    builder
});

/// The HTML `raw` sanitized by ammonia ([`SANITIZER`]).
fn sanitized(raw: &str) -> String {
    SANITIZER.clean(raw).to_string()
}

/// For tests and fuzzing: the README `markdown` as pulldown-cmark's HTML
/// sanitized both ways, `Some((fast path, ammonia))`, when the fast path
/// takes it; `None` when it holds raw HTML, is beyond the budgets, or the
/// fast path gives it to ammonia. The two must be equal.
pub fn sanitized_both_ways(markdown: &str) -> Option<(String, String)> {
    let (raw, html) = self::markdown(markdown)?;
    if html == RawHtml::Other {
        return None;
    }
    let fast = fast::sanitize(&raw)?;
    Some((fast, sanitized(&raw)))
}

/// The fallback: `text` escaped in a `<pre>`, after a note saying why.
pub(crate) fn plain(text: &str) -> String {
    format!(
        "<p class=\"note\">This README nests deeper than {MAX_NESTING} levels or is too \
large to render: shown as plain text.</p>\n<pre class=\"readme-text\">{}</pre>",
        esc(text)
    )
}

/// The raw HTML in a README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawHtml {
    None,
    /// Only comments (and whitespace between them) that [`fast`] models.
    Comments,
    Other,
}

/// `text` as HTML by pulldown-cmark, and what raw HTML it holds; `None`
/// beyond [`MAX_EVENTS`] or [`MAX_NESTING`].
fn markdown(text: &str) -> Option<(String, RawHtml)> {
    use pulldown_cmark::{Event, Options, Parser, html};
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let over = Cell::new(false);
    let mut depth = 0usize;
    let mut events = 0usize;
    let mut kind = RawHtml::None;
    // Consecutive raw HTML events (an HTML block's lines), judged together.
    let mut run = String::new();
    let judge = |run: &mut String, kind: &mut RawHtml| {
        if !run.is_empty() {
            *kind = if *kind != RawHtml::Other && fast::only_comments(run) {
                RawHtml::Comments
            } else {
                RawHtml::Other
            };
            run.clear();
        }
    };
    let bounded = Parser::new_ext(text, opts).map_while(|e| {
        events += 1;
        match &e {
            Event::Html(html) | Event::InlineHtml(html) => {
                if kind != RawHtml::Other {
                    run.push_str(html);
                }
            }
            _ => judge(&mut run, &mut kind),
        }
        match &e {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        if events > MAX_EVENTS || depth > MAX_NESTING {
            over.set(true);
            return None;
        }
        Some(e)
    });
    let mut raw = String::with_capacity(text.len() + text.len() / 2);
    html::push_html(&mut raw, bounded);
    judge(&mut run, &mut kind);
    (!over.get()).then_some((raw, kind))
}

/// Elements without content: never open.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// The formatting elements the tree builder remembers and reopens when one
/// was closed by another element's end tag.
fn is_formatting(name: &str) -> bool {
    matches!(
        name,
        "a" | "b"
            | "big"
            | "code"
            | "em"
            | "font"
            | "i"
            | "nobr"
            | "s"
            | "small"
            | "strike"
            | "strong"
            | "tt"
            | "u"
    )
}

/// The tokenizer's sink: a model of the tree builder's stack of open
/// elements that never counts fewer than the tree builder holds (it never
/// closes an element implicitly, and counts every formatting element closed
/// by another element's end tag as open for good). Its work per token is
/// bounded by [`MAX_NESTING`].
#[derive(Default)]
struct Depth {
    open: RefCell<Vec<html5ever::LocalName>>,
    /// Formatting elements closed by another element's end tag.
    reopened: Cell<usize>,
    /// Inside `svg` or `math`, where no element switches the tokenizer to raw
    /// text (counting a raw-text element's content as tags never counts fewer).
    foreign: Cell<usize>,
    over: Cell<bool>,
}

impl TokenSink for Depth {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(Tag { kind, name, .. }) = token else {
            return TokenSinkResult::Continue;
        };
        if self.over.get() {
            return TokenSinkResult::Continue;
        }
        let mut open = self.open.borrow_mut();
        match kind {
            TagKind::StartTag => {
                if is_void(&name) {
                    return TokenSinkResult::Continue;
                }
                if matches!(&*name, "svg" | "math") {
                    self.foreign.set(self.foreign.get() + 1);
                }
                let raw = if self.foreign.get() > 0 {
                    None
                } else {
                    match &*name {
                        "script" => Some(TokenSinkResult::RawData(RawKind::ScriptData)),
                        "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                            Some(TokenSinkResult::RawData(RawKind::Rawtext))
                        }
                        "textarea" | "title" => Some(TokenSinkResult::RawData(RawKind::Rcdata)),
                        "plaintext" => Some(TokenSinkResult::Plaintext),
                        _ => None,
                    }
                };
                open.push(name);
                if open.len() + self.reopened.get() > MAX_NESTING {
                    self.over.set(true);
                }
                raw.unwrap_or(TokenSinkResult::Continue)
            }
            TagKind::EndTag => {
                if let Some(at) = open.iter().rposition(|n| *n == name) {
                    for closed in open.drain(at..).skip(1) {
                        if is_formatting(&closed) {
                            self.reopened.set(self.reopened.get() + 1);
                        }
                        if matches!(&*closed, "svg" | "math") {
                            self.foreign.set(self.foreign.get() - 1);
                        }
                    }
                    if matches!(&*name, "svg" | "math") {
                        self.foreign.set(self.foreign.get() - 1);
                    }
                    if open.len() + self.reopened.get() > MAX_NESTING {
                        self.over.set(true);
                    }
                }
                TokenSinkResult::Continue
            }
        }
    }
}

/// Whether the HTML `raw` nests within [`MAX_NESTING`] (see [`Depth`]).
fn within_budget(raw: &str) -> bool {
    let tokenizer = Tokenizer::new(Depth::default(), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(raw.into());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    !tokenizer.sink.over.get()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ordinary_readmes_render() {
        let html = readme_html(
            "# T\n\n> quote\n> > nested\n\n- a\n  - b\n\n<details><summary>More</summary>\n\n*x*\n\n</details>\n",
            "README.md",
        );
        assert!(html.contains("<blockquote>"), "{html}");
        assert!(html.contains("<details>"), "{html}");
        assert!(!html.contains("readme-text"), "{html}");
    }

    #[test]
    fn deep_markdown_falls_back_to_text() {
        for text in [
            format!("{} x\n", ">".repeat(MAX_NESTING + 1)),
            (0..=MAX_NESTING)
                .map(|i| format!("{}- x\n", "  ".repeat(i)))
                .collect(),
        ] {
            let html = readme_html(&text, "README.md");
            assert!(html.contains("<pre class=\"readme-text\">"), "{html}");
        }
        let fine = readme_html(&format!("{} x\n", ">".repeat(MAX_NESTING / 2)), "README.md");
        assert!(!fine.contains("readme-text"), "{fine}");
    }

    #[test]
    fn deep_html_falls_back_to_text() {
        for text in [
            "<div>".repeat(MAX_NESTING + 1),
            // Closed, but the tree builder reopens the `b`s (distinct, so
            // that none is dropped as a duplicate) in every new paragraph.
            (0..=MAX_NESTING)
                .map(|i| format!("<p><b title={i}></p>"))
                .collect(),
            // Tags hidden in a raw-text element do not close real ones.
            "<div><script></div></script>".repeat(MAX_NESTING + 1),
        ] {
            let html = readme_html(&text, "README.md");
            assert!(
                html.contains("<pre class=\"readme-text\">"),
                "{text}: {html}"
            );
        }
        let closed = "<div>x</div>".repeat(10 * MAX_NESTING);
        assert!(!readme_html(&closed, "README.md").contains("readme-text"));
    }

    /// The READMEs `regtool add` would render for every `.crate` in the folder
    /// `dir`: (file name, README path, text), sorted by file name.
    #[allow(clippy::disallowed_methods)] // a folder of test input, not a registry
    fn corpus(dir: &str) -> Vec<(String, String, String)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("a folder of .crate files")
            .map(|e| e.expect("a folder entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "crate"))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|file| {
                let contents = crate::crate_file::read_crate(
                    file,
                    &crate::crate_file::Limits::default(),
                    None,
                )
                .ok()?;
                let meta = crate::meta::extract(&contents.manifest, &contents.readmes);
                let name = file.file_name()?.to_string_lossy().into_owned();
                Some((name, meta.readme_path?, meta.readme?))
            })
            .collect()
    }

    /// Renders every README of the corpus ([`corpus`]) `$REGTOOL_README_ROUNDS`
    /// times (default 1), for a profiler (`callgrind --toggle-collect=*readme_html*`).
    #[test]
    #[ignore = "a benchmark helper: needs REGTOOL_README_CRATES"]
    fn corpus_render() {
        let dir = std::env::var("REGTOOL_README_CRATES").expect("set REGTOOL_README_CRATES");
        let readmes = corpus(&dir);
        let rounds: usize = std::env::var("REGTOOL_README_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        let start = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            for (_, path, text) in &readmes {
                bytes += readme_html(text, path).len();
            }
        }
        eprintln!(
            "{} READMEs x {rounds}: {bytes} bytes of HTML in {:?}",
            readmes.len(),
            start.elapsed()
        );
    }

    /// Asserts that the fast path, when it takes `md`, gives ammonia's bytes;
    /// whether it took it.
    fn assert_same(md: &str) -> bool {
        let Some((fast, slow)) = sanitized_both_ways(md) else {
            return false;
        };
        assert_eq!(fast, slow, "for Markdown {md:?}");
        true
    }

    #[test]
    fn fast_path_gives_ammonias_bytes_on_real_shaped_readmes() {
        for md in [
            "<!-- cargo-rdme start -->\n# regtool\n\n[![crates.io](https://img.shields.io/crates/v/x.svg)](https://crates.io/crates/x)\n\
[![docs](https://docs.rs/x/badge.svg)](https://docs.rs/x) [CI](../../actions)\n\n\
A *fast* & **small** crate -- see the [guide](docs/guide.md \"The \\\"guide\\\"\").\n\n\
## Usage\n\n```toml\n[dependencies]\nx = \"1\"\n```\n\n```rust,ignore\nfn main() { let a = b < c && d > e; }\n```\n\n    indented <code> & more\n\n\
| Feature | Default | Notes |\n|:---|:---:|---:|\n| `std` | yes | uses &nbsp;std |\n| `alloc` | no | |\n\n\
- [x] done\n- [ ] todo with [link](https://e.org/a?b=1&c=2)\n\n1. one\n2. two\n   - nested *em*\n\n\
3. three\n\n> **Note**\n> Quoted text.\\\nHard break.\n\n---\n\n\
Footnote[^1] and <https://e.org/auto> and <me@e.org>.\n\n[^1]: The note, with `code`.\n\n\
License: MIT OR Apache-2.0 \u{a9} 2026 \u{a0}\r\n\n<!-- cargo-rdme end -->\n",
            "Setext\n======\n\nSub\n---\n\n![logo](https://e.org/logo.png \"Logo\") ![rel](logo.png)\n\n\
[js](javascript:alert(1)) [data](data:text/html,x) [mail](mailto:a@e.org) [odd](foo:bar) \
[proto](//e.org/x) [frag](#usage) [tel](tel:+123)\n\n5. starts at five\n6. six\n\n~~gone~~ &copy; &#0; &#x1; &#xFFFE;\n",
        ] {
            assert!(assert_same(md), "the fast path was not taken for {md:?}");
        }
    }

    mod grammar {
        use proptest::prelude::*;

        /// URLs of every kind the sanitizer tells apart.
        pub(super) fn url() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "https://e.org/a?b=1&c=2#f",
                    "HTTP://E.ORG",
                    "javascript:alert(1)",
                    "JaVaScRiPt:alert(1)",
                    "java&#x09;script:x",
                    "&#106;avascript:x",
                    "data:text/html;base64,PHNjcmlwdD4=",
                    "vbscript:x",
                    "docs/guide.md",
                    "./a b",
                    "../x",
                    "/abs/path",
                    "//e.org/x",
                    "#frag",
                    "?q=1",
                    "",
                    "mailto:a@e.org",
                    "tel:+1-555",
                    "irc://e.org/#c",
                    "foo:bar",
                    "foo+bar-1.x:y",
                    "1http:x",
                    "http:",
                    "http://",
                    "https://[::1]:8080/",
                    "https://e.org:99999/",
                    "https://e.org/&amp;&lt;&quot;'",
                    "https://e.org/\u{a0}\u{e9}\u{1f600}",
                    "https://e.org/\u{7f}\u{1}\u{fffe}",
                    "https://e.org/%zz%41",
                    "ftp://user:pw@e.org/",
                    "<https://e.org/a b>",
                    "<javascript:x>",
                    "\\\\e.org\\x",
                ])
                .prop_map(str::to_string),
                "[a-zA-Z0-9:/?#&;.%\\\\'\"()\\[\\]@+ \u{a0}\u{e9}\u{1}\u{7f}-]{0,16}",
            ]
        }

        /// Link and image titles, with quotes, entities, controls.
        pub(super) fn title() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                "[a-z &;#'<>\u{a0}\u{1}\u{fffe}\r]{0,10}"
                    .prop_map(|t| format!(" \"{}\"", t.replace('"', "\\\""))),
                Just(" \"a &quot; &amp; &#x27; &nbsp; &#0;\"".to_string()),
                Just(" 'single \"double\"'".to_string()),
                Just(" (paren)".to_string()),
            ]
        }

        /// A word of text: letters, escapes, entities, special characters.
        pub(super) fn word() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => "[a-zA-Z0-9]{1,8}",
                1 => prop::sample::select(vec![
                    "&", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&nbsp;", "\u{a0}", "&copy;",
                    "&#0;", "&#1;", "&#x7f;", "&#xFFFE;", "&#128512;", "&bogus;", "a < b", "b > c",
                    "\"q\"", "'s'", "\\*", "\\[", "\u{1}", "\u{fffe}", "\u{feff}", "\u{e9}", "\r",
                    "https://bare.e.org/x", "www.e.org", "<!-- c -->", "<!---->", "<!-- a -- b -->",
                    "<!-->", "<!--->", "<!-- x --!> y -->", "<!-- <b>x</b> -->", "<!-- \u{0} -->",
                ])
                .prop_map(str::to_string),
            ]
        }

        /// Inline Markdown.
        pub(super) fn inline() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                6 => word(),
                1 => "[a-z <>&\"'`]{0,10}".prop_map(|c| format!("`{c}`")),
                1 => (word(), url(), title()).prop_map(|(t, u, ti)| format!("[{t}]({u}{ti})")),
                1 => (word(), url(), title()).prop_map(|(t, u, ti)| format!("![{t}]({u}{ti})")),
                1 => url().prop_map(|u| format!("<{u}>")),
                1 => Just("<a@e.org>".to_string()),
                1 => "[0-9a-z]{1,3}".prop_map(|n| format!("[^{n}]")),
                1 => Just("  \n".to_string()),
                1 => Just("\\\n".to_string()),
                1 => (word(), url()).prop_map(|(t, u)| format!("[{t}][r]\n\n[r]: {u}\n")),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..5).prop_map(|v| v.join(" ")),
                    inner.clone().prop_map(|i| format!("*{i}*")),
                    inner.clone().prop_map(|i| format!("**{i}**")),
                    inner.clone().prop_map(|i| format!("***{i}***")),
                    inner.clone().prop_map(|i| format!("~~{i}~~")),
                    (inner.clone(), url()).prop_map(|(i, u)| format!("[{i}]({u})")),
                    (inner, url()).prop_map(|(i, u)| format!("![{i}]({u})")),
                ]
            })
        }

        /// Block Markdown.
        pub(super) fn block() -> impl Strategy<Value = String> {
            let one_line = || inline().prop_map(|i| i.replace('\n', " "));
            let leaf = prop_oneof![
                4 => inline(),
                1 => (1..=6usize, one_line()).prop_map(|(n, t)| format!("{} {t}", "#".repeat(n))),
                1 => one_line().prop_map(|t| format!("{t}\n===")),
                1 => (
                    prop::sample::select(vec!["", "rust", "toml,ignore", "\"><script>", "a&b", "c++"]),
                    "[a-z <>&\"'\n\r\t]{0,30}",
                )
                    .prop_map(|(l, c)| format!("```{l}\n{c}\n```")),
                1 => "[a-z <>&\n]{1,20}".prop_map(|c| format!("    {}", c.replace('\n', "\n    "))),
                1 => Just("---".to_string()),
                1 => prop::sample::select(vec![
                    "<!-- cargo-rdme start -->",
                    "<!--\n<img src=x onerror=alert(1)>\n-->",
                    "<!-- a -->  <!-- b -->\n<!-- c\n\nd -->",
                    "<!-- a --> after",
                    "<!-- a --->",
                    "<!--\r\nx\r\n-->",
                ])
                .prop_map(str::to_string),
                1 => (
                    prop::sample::select(vec!["---", ":--", ":-:", "--:"]),
                    prop::collection::vec((one_line(), one_line()), 0..3),
                )
                    .prop_map(|(a, rows)| {
                        let mut t = format!("| a | b |\n|{a}|---|\n");
                        for (x, y) in rows {
                            t += &format!("| {} | {} |\n", x.replace('|', "\\|"), y.replace('|', "\\|"));
                        }
                        t
                    }),
                1 => ("[0-9a-z]{1,3}", one_line()).prop_map(|(n, t)| format!("[^{n}]: {t}")),
                1 => prop::collection::vec((any::<bool>(), one_line()), 1..4).prop_map(|items| {
                    items
                        .into_iter()
                        .map(|(done, t)| format!("- [{}] {t}\n", if done { "x" } else { " " }))
                        .collect()
                }),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.join("\n\n")),
                    inner
                        .clone()
                        .prop_map(|b| format!("> {}", b.replace('\n', "\n> "))),
                    (
                        prop::sample::select(vec!["-", "*", "1.", "7)"]),
                        prop::collection::vec(inner, 1..3)
                    )
                        .prop_map(|(m, items)| {
                            let pad = " ".repeat(m.len() + 1);
                            items
                                .into_iter()
                                .map(|b| format!("{m} {}\n", b.replace('\n', &format!("\n{pad}"))))
                                .collect()
                        }),
                ]
            })
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Wherever the fast path takes Markdown, it gives ammonia's bytes.
        #[test]
        fn fast_path_gives_ammonias_bytes(
            md in grammar::block(),
            crlf in proptest::prelude::any::<bool>(),
        ) {
            let md = if crlf { md.replace('\n', "\r\n") } else { md };
            assert_same(&md);
        }
    }

    /// The grammar mostly makes Markdown the fast path takes (else the
    /// property test above would prove little).
    #[test]
    fn grammar_mostly_reaches_the_fast_path() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut taken, runs) = (0, 300);
        for _ in 0..runs {
            let md = grammar::block()
                .new_tree(&mut runner)
                .expect("a value")
                .current();
            taken += usize::from(assert_same(&md));
        }
        assert!(taken * 2 > runs, "fast path taken for {taken} of {runs}");
    }

    /// For every README of every `.crate` in each folder of
    /// `$REGTOOL_README_DIFF` (`:`-separated): renders it both ways and
    /// counts READMEs, those with raw HTML other than comments, those the fast
    /// path took, and
    /// those where it differs from ammonia (printed, and the test fails).
    #[test]
    #[ignore = "a corpus check: needs REGTOOL_README_DIFF"]
    fn corpus_diff() {
        let dirs = std::env::var("REGTOOL_README_DIFF").expect("set REGTOOL_README_DIFF");
        let mut differing = 0;
        for dir in dirs.split(':') {
            let (mut total, mut html, mut fast_taken, mut same) = (0, 0, 0, 0);
            for (file, path, text) in corpus(dir) {
                total += 1;
                if path.to_ascii_lowercase().ends_with(".txt") {
                    continue;
                }
                let Some((raw, kind)) = markdown(&text) else {
                    continue;
                };
                if kind == RawHtml::Other {
                    html += 1;
                    continue;
                }
                if let Some(fast) = fast::sanitize(&raw) {
                    fast_taken += 1;
                    let slow = sanitized(&raw);
                    if fast == slow {
                        same += 1;
                    } else {
                        differing += 1;
                        let at = fast
                            .bytes()
                            .zip(slow.bytes())
                            .position(|(a, b)| a != b)
                            .unwrap_or(fast.len().min(slow.len()));
                        let from = at.saturating_sub(80);
                        eprintln!(
                            "{file} {path}: differ at byte {at}\n fast: {:?}\n ammonia: {:?}",
                            fast.get(from..(at + 80).min(fast.len())),
                            slow.get(from..(at + 80).min(slow.len()))
                        );
                    }
                }
            }
            eprintln!(
                "{dir}: {total} READMEs, {html} with raw HTML (other than comments), fast path taken {fast_taken}, \
identical {same}, differing {}",
                fast_taken - same
            );
        }
        assert_eq!(differing, 0);
    }
}
