//! What a browser would make of a page regtool wrote: html5ever's parser
//! (the tree builder, not only the tokenizer) with a sink that keeps no
//! tree but counts its parse errors and notes every script element, event
//! handler attribute and `javascript:` URL. html5ever accepts any input, so
//! "it parsed" proves nothing; these counts can fail. Also XML 1.0's `Char`
//! production, which quick-xml does not check. Shared with the catalogue's
//! fuzz target (`fuzz/fuzz_targets/catalogue.rs` includes this file).

use html5ever::interface::{ElemName, ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{Attribute, LocalName, Namespace, QualName, ns};
use std::borrow::Cow;
use std::cell::RefCell;

/// What [`check_html`] found.
#[derive(Debug, Default)]
pub struct HtmlFindings {
    /// The parser's errors (tokenizer and tree construction).
    pub errors: Vec<String>,
    /// `script` elements.
    pub scripts: usize,
    /// Attributes named `on…` (event handlers), as `element attribute`.
    pub handlers: Vec<String>,
    /// Attribute values that are `javascript:` (or `vbscript:`, `data:`
    /// text/html) URLs, as `element attribute=value`.
    pub script_urls: Vec<String>,
}

/// A qualified name, as [`TreeSink::elem_name`] hands it out (a copy: the
/// sink keeps its names behind a `RefCell`).
#[derive(Debug)]
pub struct Name(QualName);

impl ElemName for Name {
    fn ns(&self) -> &Namespace {
        &self.0.ns
    }
    fn local_name(&self) -> &LocalName {
        &self.0.local
    }
}

/// The sink: one name per node (the tree builder keeps its own stack).
#[derive(Default)]
struct Sink {
    names: RefCell<Vec<QualName>>,
    found: RefCell<HtmlFindings>,
}

impl Sink {
    fn node(&self, name: QualName) -> usize {
        let mut names = self.names.borrow_mut();
        names.push(name);
        names.len() - 1
    }

    fn attrs(&self, element: &QualName, attrs: &[Attribute]) {
        let mut found = self.found.borrow_mut();
        for a in attrs {
            let name = a.name.local.to_ascii_lowercase();
            if name.starts_with("on") {
                found.handlers.push(format!("{} {name}", element.local));
            }
            // URL parsers drop ASCII tab and newlines and leading blanks.
            let value: String = a
                .value
                .chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect::<String>()
                .trim_start_matches(|c: char| c <= ' ')
                .to_ascii_lowercase();
            if value.starts_with("javascript:")
                || value.starts_with("vbscript:")
                || value.starts_with("data:text/html")
            {
                found
                    .script_urls
                    .push(format!("{} {name}={}", element.local, a.value));
            }
        }
    }
}

impl TreeSink for Sink {
    type Handle = usize;
    type Output = HtmlFindings;
    type ElemName<'a> = Name;

    fn finish(self) -> HtmlFindings {
        self.found.into_inner()
    }
    fn parse_error(&self, msg: Cow<'static, str>) {
        self.found.borrow_mut().errors.push(msg.into_owned());
    }
    fn get_document(&self) -> usize {
        0
    }
    fn elem_name(&self, target: &usize) -> Name {
        Name(self.names.borrow()[*target].clone())
    }
    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, _: ElementFlags) -> usize {
        if &*name.local == "script" {
            self.found.borrow_mut().scripts += 1;
        }
        self.attrs(&name, &attrs);
        self.node(name)
    }
    fn create_comment(&self, _: StrTendril) -> usize {
        self.node(QualName::new(None, ns!(), LocalName::from("#comment")))
    }
    fn create_pi(&self, _: StrTendril, _: StrTendril) -> usize {
        self.node(QualName::new(None, ns!(), LocalName::from("#pi")))
    }
    fn append(&self, _: &usize, _: NodeOrText<usize>) {}
    fn append_based_on_parent_node(&self, _: &usize, _: &usize, _: NodeOrText<usize>) {}
    fn append_doctype_to_document(&self, _: StrTendril, _: StrTendril, _: StrTendril) {}
    fn get_template_contents(&self, target: &usize) -> usize {
        *target
    }
    fn same_node(&self, x: &usize, y: &usize) -> bool {
        x == y
    }
    fn set_quirks_mode(&self, mode: QuirksMode) {
        if mode != QuirksMode::NoQuirks {
            self.parse_error("quirks mode (no or an old DOCTYPE)".into());
        }
    }
    fn append_before_sibling(&self, _: &usize, _: NodeOrText<usize>) {}
    fn add_attrs_if_missing(&self, target: &usize, attrs: Vec<Attribute>) {
        let name = self.names.borrow()[*target].clone();
        self.attrs(&name, &attrs);
    }
    fn remove_from_parent(&self, _: &usize) {}
    fn reparent_children(&self, _: &usize, _: &usize) {}
}

/// Parses `html` as a whole document (exact error messages on).
pub fn check_html(html: &str) -> HtmlFindings {
    let sink = Sink::default();
    sink.node(QualName::new(None, ns!(), LocalName::from("#document")));
    let opts = html5ever::ParseOpts {
        tree_builder: html5ever::tree_builder::TreeBuilderOpts {
            exact_errors: true,
            ..Default::default()
        },
        tokenizer: html5ever::tokenizer::TokenizerOpts {
            exact_errors: true,
            ..Default::default()
        },
    };
    html5ever::parse_document(sink, opts).one(html)
}

/// Whether `c` is in XML 1.0's `Char` production.
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The first character of `text` that XML 1.0 does not allow, with its
/// byte offset.
pub fn first_non_xml_char(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|(_, c)| !xml_char(*c))
}
