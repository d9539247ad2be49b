//! The sanitizer's result without the sanitizer, for HTML that pulldown-cmark
//! wrote from Markdown holding no raw HTML (but comments).
//!
//! Such HTML is a small, regular language: the tags pulldown-cmark writes
//! (each with known attributes), text escaped by it, properly nested. For it,
//! what `ammonia` gives (parse into an `html5ever` tree, drop what its
//! allow-list does not name, serialize) can be had in one pass over the
//! string: keep the allowed elements and attributes, check URLs as ammonia
//! does, add `rel` to links, write text and attribute values escaped as
//! `html5ever`'s serializer escapes them. [`sanitize`] does that, and gives
//! up (`None`, so the caller runs ammonia) on anything outside the model:
//! an unknown tag, attribute or character reference, or any nesting for
//! which the HTML tree builder would not keep the elements as written
//! (a link in a link, a block in a paragraph, text directly in a table...).
//! Raw HTML is left to ammonia, but for comments, which it removes: the
//! caller passes HTML whose raw HTML is only comments ([`only_comments`]).
//! The property test in `super::tests` holds it byte-equal to ammonia.

/// What ammonia does with an element pulldown-cmark writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A block that holds blocks (or text): `blockquote`, `li`, `div`.
    Flow,
    /// A block that holds only phrasing content: `p`, `h1`...`h6`, `pre`,
    /// `th`, `td`.
    Leaf,
    /// `ul`, `ol`: hold only `li`.
    List,
    /// `table`, `thead`, `tbody`, `tr`: hold only their table parts.
    Table,
    /// A formatting element the tree builder keeps a list of (`a`, `em`,
    /// `strong`, `code`).
    Formatting,
    /// Other phrasing elements: `del`, `sup`, `sub`.
    Phrasing,
    /// `br`, `hr`, `img`: no content.
    Void,
}

/// The element pulldown-cmark may write named `name`, as (its kind, whether
/// ammonia keeps it); `None` for any other.
fn element(name: &str) -> Option<(Kind, bool)> {
    Some(match name {
        "blockquote" | "li" | "div" => (Kind::Flow, true),
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "pre" | "th" | "td" => (Kind::Leaf, true),
        "ul" | "ol" => (Kind::List, true),
        "table" | "thead" | "tbody" | "tr" => (Kind::Table, true),
        "a" | "em" | "strong" | "code" => (Kind::Formatting, true),
        "del" | "sup" | "sub" => (Kind::Phrasing, true),
        "br" | "hr" | "img" => (Kind::Void, true),
        // A task list's checkbox: not on ammonia's list, so removed.
        "input" => (Kind::Void, false),
        _ => return None,
    })
}

/// Whether an element `child` (of kind `kind`) may open inside `parent`
/// (`None`: at the top) with the tree builder keeping it exactly there.
fn fits(parent: Option<&str>, child: &str, kind: Kind) -> bool {
    let parent_kind = parent.and_then(element).map(|(k, _)| k);
    match kind {
        Kind::Flow | Kind::Leaf | Kind::List | Kind::Table => match child {
            "li" => matches!(parent, Some("ul" | "ol")),
            "thead" | "tbody" => parent == Some("table"),
            "tr" => matches!(parent, Some("thead" | "tbody")),
            "th" | "td" => parent == Some("tr"),
            _ => parent.is_none() || parent_kind == Some(Kind::Flow),
        },
        // `hr` is a block; `br`, `img` and `input` are phrasing.
        Kind::Void if child == "hr" => parent.is_none() || parent_kind == Some(Kind::Flow),
        Kind::Formatting | Kind::Phrasing | Kind::Void => {
            !matches!(parent_kind, Some(Kind::List | Kind::Table))
        }
    }
}

/// Whether ammonia keeps the attribute `name` of the element `element`
/// (`Some(true)`), drops it (`Some(false)`), or `None`: not an attribute
/// pulldown-cmark writes there (give up).
fn keep_attribute(element: &str, name: &str) -> Option<bool> {
    Some(match (element, name) {
        // Generic attributes on ammonia's list.
        (_, "title") => true,
        ("a", "href") | ("img", "src" | "alt") | ("ol", "start") => true,
        // Code blocks' `language-*`, footnotes, heading ids.
        ("code" | "sup" | "div" | "blockquote", "class")
        | ("div", "id")
        | ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", "id" | "class") => false,
        // Table alignment.
        ("th" | "td", "style") => false,
        ("input", _) => false,
        _ => return None,
    })
}

/// ammonia's default URL schemes (`ammonia::Builder::default`).
const SCHEMES: &[&str] = &[
    "bitcoin",
    "ftp",
    "ftps",
    "geo",
    "http",
    "https",
    "im",
    "irc",
    "ircs",
    "magnet",
    "mailto",
    "mms",
    "mx",
    "news",
    "nntp",
    "openpgp4fpr",
    "sip",
    "sms",
    "smsto",
    "ssh",
    "tel",
    "url",
    "webcal",
    "wtai",
    "xmpp",
];

/// Whether ammonia keeps the URL `value` (decoded) with
/// `UrlRelative::Deny`: it parses as an absolute URL of a listed scheme.
fn url_allowed(value: &str) -> bool {
    ammonia::Url::parse(value).is_ok_and(|u| SCHEMES.contains(&u.scheme()))
}

/// `escaped` (as pulldown-cmark escapes text and attribute values) decoded,
/// with line breaks normalized as an HTML parser does (`\r\n` and `\r`
/// become `\n`), appended to `out`; `None` on a character reference
/// pulldown-cmark does not write, or a NUL.
fn decode(escaped: &str, out: &mut String) -> Option<()> {
    let mut rest = escaped;
    while let Some(at) = rest.find(['&', '\r', '\0']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("\r\n") {
            out.push('\n');
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('\r') {
            out.push('\n');
            rest = after;
            continue;
        }
        let (c, len) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&#39;", '\''),
            ("&#x27;", '\''),
        ]
        .iter()
        .find(|(e, _)| rest.starts_with(e))
        .map(|(e, c)| (*c, e.len()))?;
        out.push(c);
        rest = &rest[len..];
    }
    out.push_str(rest);
    Some(())
}

/// `text` escaped as `html5ever`'s serializer escapes it (`&`, U+00A0, `<`,
/// `>`, and in an attribute value `"`), appended to `out`.
fn escape(text: &str, attribute: bool, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '\u{a0}', '<', '>', '"']) {
        out.push_str(&rest[..at]);
        let c = rest[at..].chars().next().unwrap_or_default();
        match c {
            '&' => out.push_str("&amp;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            other => out.push(other),
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
}

/// The length of the HTML comment `s` starts with, when it is one the
/// parser ends exactly at its first `-->` (and no `--`, `<!-` or abrupt
/// `<!-->` inside makes that doubtful); `None` otherwise.
fn comment_len(s: &str) -> Option<usize> {
    let body_and_rest = s.strip_prefix("<!--")?;
    let end = body_and_rest.find("-->")?;
    let body = &body_and_rest[..end];
    let doubtful = body.starts_with('>')
        || body.starts_with("->")
        || body.ends_with('-')
        || body.contains("--")
        || body.contains("<!-");
    (!doubtful).then_some(4 + end + 3)
}

/// Whether the raw HTML `html` (consecutive raw HTML events of a README) is
/// only comments ([`comment_len`]) and whitespace: then ammonia drops the
/// comments and keeps the whitespace, and [`sanitize`] can do the same.
pub(super) fn only_comments(html: &str) -> bool {
    let mut rest = html;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0c']);
        if rest.is_empty() {
            return true;
        }
        let Some(len) = comment_len(rest) else {
            return false;
        };
        rest = &rest[len..];
    }
}

/// The HTML ammonia (default allow-list, `UrlRelative::Deny`) makes of `raw`,
/// pulldown-cmark's HTML for Markdown without raw HTML; `None` when `raw`
/// holds anything this model does not cover exactly (see the module docs).
pub(super) fn sanitize(raw: &str) -> Option<String> {
    // A byte-order mark opening the input is dropped by the parser.
    if raw.starts_with('\u{feff}') {
        return None;
    }
    let mut out = String::with_capacity(raw.len() + raw.len() / 8);
    let mut open: Vec<&str> = Vec::new();
    let mut scratch = String::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let text_end = rest.find('<').unwrap_or(rest.len());
        if text_end > 0 {
            let text = &rest[..text_end];
            let parent = open.last().copied();
            let parent_kind = parent.and_then(element).map(|(k, _)| k);
            if matches!(parent_kind, Some(Kind::Table))
                && !text
                    .bytes()
                    .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r'))
            {
                // Text in a table outside a cell is moved before the table.
                return None;
            }
            if parent == Some("pre") && text.starts_with(['\n', '\r']) {
                // The parser drops a newline just after `<pre>`.
                return None;
            }
            scratch.clear();
            decode(text, &mut scratch)?;
            escape(&scratch, false, &mut out);
            rest = &rest[text_end..];
            continue;
        }
        // A comment (the caller saw that every bit of raw HTML is one), which
        // ammonia removes; or a tag.
        if rest.starts_with("<!") {
            rest = &rest[comment_len(rest)?..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>')?;
            let name = &after[..end];
            if open.pop() != Some(name) {
                return None;
            }
            let (_, keep) = element(name)?;
            if keep {
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
            rest = &after[end + 1..];
            continue;
        }
        let after = &rest[1..];
        let name_end = after.find([' ', '>', '/'])?;
        let name = &after[..name_end];
        let (kind, keep) = element(name)?;
        if !fits(open.last().copied(), name, kind) {
            return None;
        }
        if name == "a" && open.contains(&"a") {
            // A link in a link: the tree builder closes the outer one.
            return None;
        }
        if kind == Kind::Formatting && open.iter().filter(|n| **n == name).count() >= 2 {
            // The tree builder remembers at most three alike (Noah's Ark).
            return None;
        }
        if keep {
            out.push('<');
            out.push_str(name);
        }
        let mut attrs = &after[name_end..];
        let closed = loop {
            if let Some(after) = attrs.strip_prefix('>') {
                attrs = after;
                break false;
            }
            if let Some(after) = attrs
                .strip_prefix("/>")
                .or_else(|| attrs.strip_prefix(" />"))
            {
                attrs = after;
                break true;
            }
            let after = attrs.strip_prefix(' ')?;
            let eq = after.find("=\"")?;
            let attr = &after[..eq];
            let value_start = &after[eq + 2..];
            let quote = value_start.find('"')?;
            let value = &value_start[..quote];
            attrs = &value_start[quote + 1..];
            if !attr.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                return None;
            }
            if !keep_attribute(name, attr)? || !keep {
                continue;
            }
            scratch.clear();
            decode(value, &mut scratch)?;
            if matches!(attr, "href" | "src") && !url_allowed(&scratch) {
                continue;
            }
            out.push(' ');
            out.push_str(attr);
            out.push_str("=\"");
            escape(&scratch, true, &mut out);
            out.push('"');
        };
        if closed != (kind == Kind::Void) {
            return None;
        }
        if keep {
            if name == "a" {
                out.push_str(" rel=\"noopener noreferrer\"");
            }
            out.push('>');
        }
        if kind != Kind::Void {
            open.push(name);
        }
        rest = attrs;
    }
    open.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_comments_the_parser_ends_at_their_first_end_are_taken() {
        assert_eq!(comment_len("<!-- a --> b"), Some(10));
        assert!(only_comments("<!-- a -->\n  <!--\nb\n-->\n"));
        for doubtful in [
            // Ends at `<!-->` or `<!--->` (abrupt), or at `--!>`.
            "<!--> a -->",
            "<!---> a -->",
            "<!-- a --!> b -->",
            "<!-- a -- b -->",
            "<!-- a --->",
            "<!-- <!-- -->",
            "<!-- unclosed",
        ] {
            assert_eq!(comment_len(doubtful), None, "{doubtful}");
            assert!(!only_comments(doubtful), "{doubtful}");
        }
        assert!(!only_comments("<!-- a --> <b>"));
        assert!(!only_comments("<b><!-- a -->"));
    }
}
