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

use super::render::{clean, esc};
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    states::RawKind,
};
use std::cell::{Cell, RefCell};

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
    let Some((raw, has_html)) = markdown(text) else {
        return plain(text);
    };
    if has_html && !within_budget(&raw) {
        return plain(text);
    }
    let html = ammonia::Builder::default()
        .url_relative(ammonia::UrlRelative::Deny)
        .clean(&raw)
        .to_string();
    // html5ever decodes `&#xFFFE;` and `&#1;` into the characters themselves.
    match clean(&html) {
        std::borrow::Cow::Borrowed(_) => html,
        std::borrow::Cow::Owned(cleaned) => cleaned,
    }
}

/// The fallback: `text` escaped in a `<pre>`, after a note saying why.
pub(crate) fn plain(text: &str) -> String {
    format!(
        "<p class=\"note\">This README nests deeper than {MAX_NESTING} levels or is too \
large to render: shown as plain text.</p>\n<pre class=\"readme-text\">{}</pre>",
        esc(text)
    )
}

/// `text` as HTML by pulldown-cmark, and whether it holds raw HTML; `None`
/// beyond [`MAX_EVENTS`] or [`MAX_NESTING`].
fn markdown(text: &str) -> Option<(String, bool)> {
    use pulldown_cmark::{Event, Options, Parser, html};
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let over = Cell::new(false);
    let mut depth = 0usize;
    let mut events = 0usize;
    let mut has_html = false;
    let bounded = Parser::new_ext(text, opts).map_while(|e| {
        events += 1;
        match &e {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Html(_) | Event::InlineHtml(_) => has_html = true,
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
    (!over.get()).then_some((raw, has_html))
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
}
