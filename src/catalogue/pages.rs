//! Writing the catalogue: the pages, the search data, the feed and their
//! state, kept up to date change by change or rebuilt whole, and checked
//! against the index. Floor 4 (`catalogue`).
//!
//! A page is a function of its crate's index file and the site alone
//! ([`render::crate_page`]; the README comes from the `.crate` the index
//! line's `cksum` names), so that its *fingerprint* (a digest of both, in
//! [`PAGES_KEY`]) tells whether it is up to date: a rebuild renders only
//! the crates whose fingerprint changed, `verify` compares them, and a
//! `reindex` that changes nothing writes nothing.
//!
//! Every change re-reads the index files it changed after writing them, so
//! that a page never shows a copy read before a concurrent writer's change.
//! Work under way is recorded first in [`PENDING_KEY`], durably, and
//! removed once every file is written: a run that dies or fails between the
//! two leaves it, and the next change finishes the work
//! ([`ChangeHook::resume`](crate::registry::ChangeHook::resume)).

use super::render::{self, Site};
use super::{
    FEED_KEY, FEED_MARK, HTML_MARK, INDEX_KEY, OLD_META_DIR, PAGES_KEY, PENDING_KEY, STATE_KEY,
    ours, readme,
};
use crate::error::{Error, Result};
use crate::index::{IndexFile, IndexPackage};
use crate::layout;
use crate::meta::VersionMeta;
use crate::name::{self, CrateName};
use crate::registry::{Change, Registry, Writer};
use crate::storage::{Durability, ObjectKind, Outcome, Precondition, Revision};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

/// Folder of the crate pages.
pub(crate) const PAGES_DIR: &str = "catalogue/crates";
/// Key of the search data.
pub(crate) const SEARCH_KEY: &str = "catalogue/search-index.js";
/// Key of the search script.
pub(crate) const SCRIPT_KEY: &str = "catalogue/search.js";
/// Key of the style sheet.
pub(crate) const STYLE_KEY: &str = "catalogue/style.css";
/// Versions in the feed.
pub(crate) const FEED_LEN: usize = 50;
/// The pages' design: part of every fingerprint, so that a regtool that
/// draws pages differently renders them all again once (3: a page carries
/// its [`Record`]).
const RENDER_VERSION: u32 = 3;
/// The version of the README rendering a [`Stored`] (a page's record, an
/// older regtool's stored metadata) was made with: another value means the
/// `.crate` is read again. (2: the value [`RENDER_VERSION`] had when the
/// two were one, so that the metadata older regtools stored is read.)
const README_VERSION: u32 = 2;
/// How often a shared file (search data, fingerprints, pending work) is
/// written again after another writer changed it first (object storage
/// without a lock).
const MAX_RETRIES: usize = 24;

const SEARCH_JS: &str = include_str!("search.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Key of the page of the crate `name` (as published).
pub(crate) fn page_key(name: &str) -> String {
    format!("{PAGES_DIR}/{name}.html")
}

/// Key of the metadata an older regtool stored for the page of `name` (as
/// published); see [`OLD_META_DIR`].
fn old_meta_key(name: &str) -> String {
    format!("{OLD_META_DIR}/{name}.json")
}

/// The catalogue's state in [`STATE_KEY`] (the crates are in the search
/// data and the fingerprints, each one line per crate).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// [`RENDER_VERSION`] and the site ([`Site::digest_text`]) the files were
    /// written for; another value means a rebuild.
    #[serde(default)]
    pub(crate) site: String,
    /// The newest versions, newest first.
    pub(crate) feed: Vec<FeedEntry>,
    /// When the catalogue last changed (RFC 3339).
    #[serde(default)]
    pub(crate) updated: String,
    /// `feed.atom` is someone else's (found so by the last [`rebuild`]): not
    /// written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) foreign_feed: bool,
}

/// One version in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FeedEntry {
    /// Crate name as published.
    pub(crate) name: String,
    /// Version.
    pub(crate) vers: String,
    /// Its `pubtime`, RFC 3339.
    pub(crate) time: String,
    /// The description of the version its crate's page shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
}

/// What [`State::site`] holds for `site`.
fn site_key(site: &Site) -> String {
    format!("{RENDER_VERSION}\n{}", site.digest_text())
}

/// The fingerprint of a crate's page: a digest of what it is made of (see
/// the module docs), 16 hex digits.
pub(crate) fn fingerprint(site_key: &str, index: &IndexFile) -> String {
    let mut h = Sha256::new();
    h.update(site_key.as_bytes());
    h.update([0]);
    for l in &index.lines {
        h.update(l.raw.as_bytes());
        h.update(b"\n");
    }
    let d = h.finalize();
    crate::crate_file::hex(&d[..8])
}

/// The fingerprint in a row's value of [`PAGES_KEY`] (`{fingerprint}
/// {record digest}`; rows of older regtools hold the fingerprint alone).
fn print_of(value: &str) -> &str {
    value.split_once(' ').map_or(value, |(print, _)| print)
}

/// The record digest ([`Stored::digest`]) in a row's value of
/// [`PAGES_KEY`], if it holds one: the page whose record has it is the one
/// regtool wrote last.
fn digest_of(value: &str) -> Option<&str> {
    value.split_once(' ').map(|(_, digest)| digest)
}

/// The record digests of the pages (by canonical name) in `prints`, the
/// text of [`PAGES_KEY`]; a text not in its shape gives none.
fn digests(prints: &str) -> Digests {
    fingerprint_rows(prints)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(c, v)| Some((c, digest_of(v)?.to_string())))
        .collect()
}

/// The record digests of the pages by canonical name (see [`digests`]).
type Digests = HashMap<String, String>;

/// The digests of [`PAGES_KEY`] in `once`, read into it the first time
/// (none when it is missing or cannot be read: then no page is trusted,
/// and the `.crate` is read).
fn stored_digests<'a>(reg: &Registry, once: &'a OnceLock<Digests>) -> &'a Digests {
    once.get_or_init(|| {
        reg.get_object(PAGES_KEY)
            .ok()
            .flatten()
            .and_then(|o| String::from_utf8(o.bytes).ok())
            .map(|text| digests(&text))
            .unwrap_or_default()
    })
}

/// Largest page read back (bytes): far more than any page regtool writes
/// (a README is at most [`crate::crate_file::MAX_README_SIZE`] before
/// escaping); a larger file is not read and counts as no page of ours.
const MAX_PAGE: u64 = 16 << 20;

/// The page at `key`, read up to [`MAX_PAGE`] bytes; `None` when there is
/// none or it is larger.
///
/// # Errors
/// [`Error::Io`] naming the page.
fn read_page(reg: &Registry, key: &str) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    // Asked first: a bucket's `open` fetches the whole object.
    if reg.stat(key)?.is_none_or(|m| m.size > MAX_PAGE) {
        return Ok(None);
    }
    let Some(reader) = reg.open_object(key)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_PAGE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", reg.locate(key), e))?;
    Ok((bytes.len() as u64 <= MAX_PAGE).then_some(bytes))
}

// ---------------------------------------------------------------------------
// Tables of one line per crate (the search data, the fingerprints).

/// The rows of the search data `text` (see [`render::SEARCH_PREFIX`]) by
/// canonical name, or `None` when it is not in that shape.
fn search_rows(text: &str) -> Option<BTreeMap<String, &str>> {
    let body = text
        .strip_prefix(render::SEARCH_PREFIX)?
        .strip_suffix(render::SEARCH_SUFFIX)?;
    let mut rows = BTreeMap::new();
    if body.is_empty() {
        return Some(rows);
    }
    for line in body.split(",\n") {
        rows.insert(name::canonical(search_row_name(line)?), line);
    }
    Some(rows)
}

/// The fingerprints in `text` (see [`PAGES_KEY`]), or `None` when it is
/// not in that shape.
fn fingerprint_rows(text: &str) -> Option<BTreeMap<String, &str>> {
    text.lines()
        .map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_string(), v))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        })
        .collect()
}

fn fingerprints_text<'a>(rows: impl IntoIterator<Item = (&'a String, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(k);
        out.push(' ');
        out.push_str(v);
        out.push('\n');
    }
    out
}

/// The crate name a search row starts with (`["name",...`: crate names are
/// written without escapes).
fn search_row_name(row: &str) -> Option<&str> {
    row.strip_prefix("[\"")?.split('"').next()
}

/// The canonical name a fingerprint line starts with.
fn fingerprint_row_name(row: &str) -> Option<&str> {
    row.split_once(' ').map(|(k, _)| k)
}

/// How `name` sorts against the canonical name `canonical`, as
/// `name::canonical(name)` would (without making it).
fn cmp_canonical(name: &str, canonical: &str) -> std::cmp::Ordering {
    let fold = |b: u8| {
        if b == b'-' {
            b'_'
        } else {
            b.to_ascii_lowercase()
        }
    };
    name.bytes().map(fold).cmp(canonical.bytes())
}

/// A table of one row per crate in canonical order (`body`: the rows joined
/// by `sep`, `",\n"` or `"\n"`; `name` finds a row's crate) with `updates`
/// (by canonical name: the new row, or `None` to take the crate out) put
/// in. Each update's place is found by a binary search over the bytes (as
/// `look` searches a sorted file) and the rows between updates are copied
/// as they are: a change of a few crates reads a few dozen rows, whatever
/// the table's size. `None` when a row looked at has no name.
fn splice(
    body: &str,
    sep: &str,
    name: fn(&str) -> Option<&str>,
    updates: &BTreeMap<String, Option<&str>>,
) -> Option<String> {
    let trail = sep.strip_suffix('\n').unwrap_or("");
    // The end of the row starting at `start` (its `\n`, or the end).
    let end_of = |start: usize| body[start..].find('\n').map_or(body.len(), |e| start + e);
    let row_at = |start: usize| {
        let line = &body[start..end_of(start)];
        line.strip_suffix(trail).unwrap_or(line)
    };
    // The start of the first row from `from` (a row's start) on whose crate
    // sorts at or after `key`.
    let lower_bound = |from: usize, key: &str| -> Option<usize> {
        let (mut lo, mut hi) = (from, body.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // On bytes: `mid` may fall inside a character ('\n' never does).
            let start = body.as_bytes()[lo..mid]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(lo, |i| lo + i + 1);
            if cmp_canonical(name(row_at(start))?, key).is_lt() {
                lo = (end_of(start) + 1).min(body.len());
            } else {
                hi = start;
            }
        }
        Some(lo)
    };
    let mut out = String::with_capacity(body.len() + 256 * updates.len());
    let mut push = |text: &str| {
        if !text.is_empty() {
            if !out.is_empty() {
                out.push_str(sep);
            }
            out.push_str(text);
        }
    };
    // Rows `from..to` (starts) as they are, without the separator after them.
    let rows = |from: usize, to: usize| {
        let run = &body[from..to];
        let run = run.strip_suffix('\n').unwrap_or(run);
        run.strip_suffix(trail).unwrap_or(run)
    };
    let mut next = 0;
    for (key, new) in updates {
        let at = lower_bound(next, key)?;
        push(rows(next, at));
        next = at;
        if at < body.len() && cmp_canonical(name(row_at(at))?, key).is_eq() {
            next = (end_of(at) + 1).min(body.len());
        }
        if let Some(new) = new {
            push(new);
        }
    }
    push(rows(next, body.len()));
    Some(out)
}

/// The description in a search row (see [`render::search_row`]).
fn row_description(row: &str) -> Option<String> {
    let [_, _, d]: [String; 3] = serde_json::from_str(row).ok()?;
    (!d.is_empty()).then_some(d)
}

// ---------------------------------------------------------------------------
// Stored metadata.

/// A version's metadata as a page shows it: read from the `.crate` whose
/// SHA-256 is `cksum`, with its README already rendered. A page carries it
/// (see [`Record`]); older regtools stored it as JSON under
/// [`OLD_META_DIR`], in this shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stored {
    /// The `.crate`'s SHA-256: metadata of other bytes is read again.
    cksum: String,
    /// [`README_VERSION`] of `readme_html`.
    renderer: u32,
    /// The metadata (its `readme` left out: `readme_html` holds it).
    #[serde(flatten)]
    meta: VersionMeta,
    /// The README as HTML ([`readme::readme_html`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    readme_html: Option<String>,
    /// Why the `.crate` could not be read (its page then shows the index
    /// line only); recorded so that it is said once (a page records that
    /// it could not, not why: see [`Record::unreadable`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unreadable: Option<String>,
}

/// What a crate page carries about itself in its head (JSON made fit by
/// [`render::comment_json`], between [`render::RECORD_OPEN`] and
/// [`render::RECORD_CLOSE`]), so that it can be rendered again (another
/// version added, yanked, the site changed) without reading its `.crate`:
/// the [`Stored`] it was rendered from, with the README's length instead of
/// the README, which is read back from the page's README section (the
/// first [`render::README_OPEN`], followed after that many bytes by
/// [`render::README_CLOSE`]), so that the page holds it once. A page that
/// is not ours (no [`super::HTML_MARK`] before the record), has no record,
/// or whose record or README section does not parse so, gives none; and
/// it is used only when its [`Stored::digest`] is the one [`PAGES_KEY`]
/// holds for the page (a page edited in place, even keeping its length, is
/// rendered again from the `.crate`). Nothing in it is secret: every field is
/// shown on the page, or is in the index line or the `.crate`, both
/// served beside it (the `cksum`; `readme_path`); why a `.crate` could not
/// be read (which may name the registry's folder) is said once to the
/// operator and recorded only as `true`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// [`Stored::cksum`].
    cksum: String,
    /// [`Stored::renderer`].
    renderer: u32,
    /// [`Stored::meta`].
    #[serde(flatten)]
    meta: VersionMeta,
    /// The length of [`Stored::readme_html`] in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    readme_len: Option<usize>,
    /// Whether the `.crate` could not be read ([`Stored::unreadable`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unreadable: bool,
}

impl Stored {
    /// The stored form of `meta`, read from the `.crate` of SHA-256 `cksum`;
    /// `rendered`: its README rendered already.
    pub(super) fn new(cksum: &str, mut meta: VersionMeta, rendered: Option<String>) -> Stored {
        let readme_html = meta.readme.take().map(|text| {
            rendered.unwrap_or_else(|| {
                let path = meta.readme_path.as_deref().unwrap_or("README.md");
                readme::readme_html(&text, path)
            })
        });
        Stored {
            cksum: cksum.to_string(),
            renderer: README_VERSION,
            meta,
            readme_html,
            unreadable: None,
        }
    }

    /// The page of the crate whose index file is `index`, showing this
    /// metadata, with its [`Record`].
    pub(super) fn page(&self, index: &IndexFile, site: &Site) -> String {
        let record = Record {
            cksum: self.cksum.clone(),
            renderer: self.renderer,
            meta: self.meta.clone(),
            readme_len: self.readme_html.as_ref().map(String::len),
            unreadable: self.unreadable.is_some(),
        };
        let json = serde_json::to_string(&record).expect("a record serializes");
        let record = render::comment_json(&json);
        render::crate_page(
            index,
            &self.meta,
            self.readme_html.as_deref(),
            &record,
            site,
        )
    }

    /// A digest of what a page shows of this metadata (its [`Record`] and
    /// README), 16 hex digits: [`PAGES_KEY`] holds it beside the page's
    /// fingerprint, so that a page is read back ([`Stored::from_page`]) only
    /// when it is the one regtool wrote (a page edited in place, even
    /// without changing its length, is not trusted: the `.crate` is read).
    fn digest(&self) -> String {
        let shown = (
            &self.cksum,
            self.renderer,
            &self.meta,
            &self.readme_html,
            self.unreadable.is_some(),
        );
        let json = serde_json::to_vec(&shown).expect("metadata serializes");
        let d = Sha256::digest(&json);
        crate::crate_file::hex(&d[..8])
    }

    /// The metadata a page of ours carries (see [`Record`]); `None` when
    /// `page` is not one, or is damaged where it is read.
    fn from_page(page: &[u8]) -> Option<Stored> {
        let text = std::str::from_utf8(page).ok()?;
        let at = text.find(render::RECORD_OPEN)?;
        if !text[..at].contains(super::HTML_MARK) {
            return None;
        }
        let json = &text[at + render::RECORD_OPEN.len()..];
        let json = &json[..json.find(render::RECORD_CLOSE)?];
        let record: Record = serde_json::from_str(json).ok()?;
        let readme_html = match record.readme_len {
            None => None,
            Some(len) => {
                let start = text.find(render::README_OPEN)? + render::README_OPEN.len();
                let html = text.get(start..start.checked_add(len)?)?;
                text[start + len..]
                    .starts_with(render::README_CLOSE)
                    .then(|| html.to_string())
            }
        };
        if record.readme_len.is_some() && readme_html.is_none() {
            return None;
        }
        Some(Stored {
            cksum: record.cksum,
            renderer: record.renderer,
            meta: record.meta,
            readme_html,
            unreadable: record.unreadable.then(String::new),
        })
    }
}

/// The metadata of `pkg` (a line of `name`): `added` when the change
/// brought it, else as [`read_meta`] finds it (`trusted`: the digest of
/// the page regtool wrote last). A `.crate` that is missing
/// or cannot be read gives empty metadata, said in one warning (the page
/// records it, so that it is said once).
fn version_meta(
    w: &Writer,
    name: &CrateName,
    pkg: &IndexPackage,
    added: Option<&VersionMeta>,
    prepared: &Prepared,
    trusted: Option<&str>,
) -> Result<Stored> {
    if let Some(m) = added {
        let rendered = prepared.get(&(name.canonical(), pkg.vers.clone())).cloned();
        return Ok(Stored::new(&pkg.cksum, m.clone(), rendered));
    }
    let (stored, fresh) = read_meta(w, name, pkg, trusted)?;
    if fresh && let Some(why) = &stored.unreadable {
        crate::output::warn(format_args!(
            "the catalogue page of {name} v{} shows its index line only: {why}",
            pkg.vers
        ));
    }
    Ok(stored)
}

/// The metadata of `pkg` (a line of `name`): the record its page carries
/// (see [`Record`]) when its digest is `trusted` (see [`Stored::digest`]), else what an older regtool stored for it under
/// [`OLD_META_DIR`], when either was read from the same bytes (`cksum`)
/// with today's README rendering (`false`); else read from the stored
/// `.crate` (`true`: a `.crate` that is missing or cannot be read gives
/// empty metadata and says why). A page that is missing, damaged, not
/// ours, larger than [`MAX_PAGE`] or changed since regtool wrote it counts
/// as none.
fn read_meta(
    reg: &Registry,
    name: &CrateName,
    pkg: &IndexPackage,
    trusted: Option<&str>,
) -> Result<(Stored, bool)> {
    let current = |s: &Stored| s.cksum == pkg.cksum && s.renderer == README_VERSION;
    if let Some(trusted) = trusted
        && let Some(bytes) = read_page(reg, &page_key(name.as_str()))?
        && let Some(s) = Stored::from_page(&bytes)
        && current(&s)
        && s.digest() == trusted
    {
        return Ok((s, false));
    }
    if let Some(o) = reg.get_object(&old_meta_key(name.as_str()))?
        && let Ok(s) = serde_json::from_slice::<Stored>(&o.bytes)
        && current(&s)
    {
        return Ok((s, false));
    }
    let crate_key = layout::crate_key(name, &pkg.vers);
    let stored = match reg.read_stored_crate(&crate_key, None) {
        Ok(e) => Stored::new(&pkg.cksum, e.meta, None),
        Err(e) => Stored {
            cksum: pkg.cksum.clone(),
            renderer: README_VERSION,
            unreadable: Some(crate::error::Report(&e).to_string()),
            ..Stored::default()
        },
    };
    Ok((stored, true))
}

// ---------------------------------------------------------------------------
// Writing.

fn put(w: &Writer, key: &str, bytes: &[u8], kind: ObjectKind) -> Result<()> {
    let _ = w.put_object(key, bytes, kind, &Precondition::Any, Durability::Deferred)?;
    Ok(())
}

/// Writes `bytes` at `key` unless `old` (what is there) holds them already.
fn put_if_changed(
    w: &Writer,
    key: &str,
    old: Option<&[u8]>,
    bytes: &[u8],
    kind: ObjectKind,
) -> Result<bool> {
    if old == Some(bytes) {
        return Ok(false);
    }
    put(w, key, bytes, kind)?;
    Ok(true)
}

/// Writes the files every catalogue has (start page, script, style sheet)
/// where they differ; an `index.html` regtool did not write is left alone.
fn write_static(w: &Writer, site: &Site) -> Result<()> {
    let index = w.get_object(INDEX_KEY)?;
    let index_ours = index
        .as_ref()
        .is_none_or(|o| std::str::from_utf8(&o.bytes).is_ok_and(|t| t.contains(HTML_MARK)));
    if index_ours {
        let page = render::index_page(site);
        let old = index.as_ref().map(|o| o.bytes.as_slice());
        put_if_changed(w, INDEX_KEY, old, page.as_bytes(), ObjectKind::Html)?;
    }
    for (key, text, kind) in [
        (SCRIPT_KEY, SEARCH_JS, ObjectKind::Script),
        (STYLE_KEY, STYLE_CSS, ObjectKind::Style),
    ] {
        let old = w.get_object(key)?;
        put_if_changed(
            w,
            key,
            old.as_ref().map(|o| o.bytes.as_slice()),
            text.as_bytes(),
            kind,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Pending work.

/// The work under way (see [`PENDING_KEY`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The whole catalogue is to be written again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) all: bool,
    /// Crates whose pages are to be brought up to date (names as published).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub(crate) crates: BTreeSet<String>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.all && self.crates.is_empty()
    }
}

/// Reads the pending work and its revision; a file that cannot be parsed
/// counts as the whole catalogue pending.
pub(crate) fn read_pending(reg: &Registry) -> Result<(Pending, Option<Revision>)> {
    Ok(match reg.get_object(PENDING_KEY)? {
        None => (Pending::default(), None),
        Some(o) => (
            serde_json::from_slice(&o.bytes).unwrap_or(Pending {
                all: true,
                crates: BTreeSet::new(),
            }),
            Some(o.revision),
        ),
    })
}

/// Changes the pending work with `change` (compare-and-swap, retried when
/// another writer changed it first); deletes the file once nothing is left.
fn edit_pending(
    w: &Writer,
    durability: Durability,
    mut change: impl FnMut(&mut Pending),
) -> Result<()> {
    for _ in 0..MAX_RETRIES {
        let (mut p, rev) = read_pending(w)?;
        let before = p.clone();
        change(&mut p);
        if p == before && rev.is_some() != p.is_empty() {
            return Ok(());
        }
        let outcome = if p.is_empty() {
            match rev {
                Some(r) => w.delete_object(PENDING_KEY, &Precondition::Unchanged(r))?,
                None => return Ok(()),
            }
        } else {
            let bytes = serde_json::to_vec(&p).expect("pending work serializes");
            w.put_object(
                PENDING_KEY,
                &bytes,
                ObjectKind::State,
                &Precondition::from_read(rev),
                durability,
            )?
        };
        if outcome == Outcome::Done {
            return Ok(());
        }
    }
    Err(Error::Conflict {
        path: w.locate(PENDING_KEY),
    })
}

/// Records that the pages of `names` are about to change (before their
/// index files are written); durable after the storage's next barrier when
/// `durability` is [`Durability::Deferred`].
///
/// # Errors
/// [`Error::Io`] naming the file; [`Error::Conflict`] when other writers
/// kept changing it.
pub(crate) fn mark_pending(w: &Writer, names: &[&CrateName], durability: Durability) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    // Mostly nothing is pending: create the file without reading it first.
    let fresh = Pending {
        all: false,
        crates: names.iter().map(|n| n.to_string()).collect(),
    };
    let bytes = serde_json::to_vec(&fresh).expect("pending work serializes");
    let pre = Precondition::Absent;
    if w.put_object(PENDING_KEY, &bytes, ObjectKind::State, &pre, durability)? == Outcome::Done {
        return Ok(());
    }
    edit_pending(w, durability, |p| {
        p.crates.extend(names.iter().map(|n| n.to_string()));
    })
}

/// Records, durably, that the whole catalogue is to be written again
/// (before `reindex` writes index files; [`rebuild`] clears it).
///
/// # Errors
/// [`Error::Io`] naming the file; [`Error::Conflict`] when other writers
/// kept changing it.
pub(crate) fn mark_all_pending(w: &Writer) -> Result<()> {
    edit_pending(w, Durability::Now, |p| p.all = true)
}

/// Whether the catalogue was written for another site than the registry's
/// now (its URL, name or access changed), or is not readable.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn site_changed(w: &Writer) -> Result<bool> {
    let site = Site::new(&w.settings, &w.config);
    Ok(match w.get_object(STATE_KEY)? {
        Some(o) => {
            serde_json::from_slice::<State>(&o.bytes).map_or(true, |s| s.site != site_key(&site))
        }
        None => true,
    })
}

/// Finishes the work a failed or killed run left (see the module docs).
///
/// # Errors
/// As [`update`] and [`rebuild`].
pub(crate) fn resume(w: &Writer) -> Result<()> {
    let (pending, _) = read_pending(w)?;
    if pending.all {
        rebuild(w).map(|_| ())
    } else if pending.crates.is_empty() {
        Ok(())
    } else {
        let names: Vec<CrateName> = pending
            .crates
            .iter()
            .filter_map(|n| CrateName::new(n).ok())
            .collect();
        let none = Prepared::new();
        update(
            w,
            &names,
            &[],
            &none,
            pending.crates.iter().cloned().collect(),
        )
    }
}

// ---------------------------------------------------------------------------
// The state.

/// The catalogue as stored: state, search rows, fingerprints (raw texts).
struct Shared {
    state: State,
    search: (String, Revision),
    pages: (String, Option<Revision>),
}

/// Reads the state, the search data and the fingerprints; `None` when one
/// is missing or not in its shape (then the catalogue is rebuilt).
fn read_catalogue(reg: &Registry) -> Result<Option<Shared>> {
    let (Some(search), Some(state)) = (reg.get_object(SEARCH_KEY)?, reg.get_object(STATE_KEY)?)
    else {
        return Ok(None);
    };
    let Ok(state) = serde_json::from_slice::<State>(&state.bytes) else {
        return Ok(None);
    };
    let Ok(search_text) = String::from_utf8(search.bytes) else {
        return Ok(None);
    };
    let (pages_text, pages_rev) = match reg.get_object(PAGES_KEY)? {
        Some(o) => match String::from_utf8(o.bytes) {
            Ok(t) => (t, Some(o.revision)),
            Err(_) => return Ok(None),
        },
        None => return Ok(None),
    };
    // The shape only: the rows are read where they are needed.
    let shaped = search_text.starts_with(render::SEARCH_PREFIX)
        && search_text.ends_with(render::SEARCH_SUFFIX)
        && (pages_text.is_empty() || pages_text.ends_with('\n'));
    if !shaped {
        return Ok(None);
    }
    Ok(Some(Shared {
        state,
        search: (search_text, search.revision),
        pages: (pages_text, pages_rev),
    }))
}

fn state_bytes(state: &State) -> Vec<u8> {
    serde_json::to_vec(state).expect("state serializes")
}

/// The feed's order: newest first, then by name and version (so that a
/// rebuild gives what the changes one by one gave).
fn sort_feed(feed: &mut [FeedEntry]) {
    feed.sort_by(feed_order);
}

fn feed_order(a: &FeedEntry, b: &FeedEntry) -> std::cmp::Ordering {
    b.time
        .cmp(&a.time)
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.vers.cmp(&b.vers))
}

/// The newest [`FEED_LEN`] versions of `lines` (`(name, line)`) that have a
/// `pubtime`, newest first, without descriptions.
fn newest<'a>(lines: impl Iterator<Item = (&'a str, &'a IndexPackage)>) -> Vec<FeedEntry> {
    let mut feed: Vec<FeedEntry> = lines
        .filter_map(|(name, p)| {
            p.pubtime.as_ref().map(|t| FeedEntry {
                name: name.to_string(),
                vers: p.vers.clone(),
                time: t.clone(),
                description: None,
            })
        })
        .collect();
    sort_feed(&mut feed);
    feed.truncate(FEED_LEN);
    feed
}

// ---------------------------------------------------------------------------
// One crate's page.

/// A crate whose page was written (or deleted: the crate is gone), with
/// what the shared files take from it.
struct Rendered {
    /// The name as published (the page's name).
    name: CrateName,
    /// Its search row; `None` when the crate is gone.
    row: Option<String>,
    /// Its row's value in [`PAGES_KEY`] (`{fingerprint} {record digest}`);
    /// `None` when the crate is gone.
    fingerprint: Option<String>,
    /// Its index file, as read after the change.
    index: IndexFile,
}

/// Reads the crate `name` as it is now and writes its page (see
/// [`render_index`]).
fn render_crate(
    w: &Writer,
    name: &CrateName,
    site: &Site,
    site_key: &str,
    added: &HashMap<(String, String), &VersionMeta>,
    prepared: &Prepared,
    prints: &OnceLock<Digests>,
) -> Result<Rendered> {
    let (name, index) = match w.find_crate(name)? {
        Some(s) => (s.name, s.index),
        None => (name.clone(), IndexFile::default()),
    };
    render_index(w, name, index, site, site_key, added, prepared, prints)
}

/// Writes the page of the crate `name` whose index file is `index` (deletes
/// it when the file has no line); `added` are metadata a change brought and
/// `prepared` READMEs rendered ahead, by canonical name and version;
/// `prints`: the record digests [`PAGES_KEY`] held before the change
/// (those of the pages regtool wrote), read when first needed (a page whose version
/// shown the change brought needs none).
#[allow(clippy::too_many_arguments)]
fn render_index(
    w: &Writer,
    name: CrateName,
    index: IndexFile,
    site: &Site,
    site_key: &str,
    added: &HashMap<(String, String), &VersionMeta>,
    prepared: &Prepared,
    prints: &OnceLock<Digests>,
) -> Result<Rendered> {
    let key = page_key(name.as_str());
    let Some(pkg) = render::shown_version(&index) else {
        let _ = w.delete_object(&key, &Precondition::Any)?;
        return Ok(Rendered {
            name,
            row: None,
            fingerprint: None,
            index,
        });
    };
    let brought = added.get(&(name.canonical(), pkg.vers.clone())).copied();
    let trusted = match brought {
        Some(_) => None,
        None => stored_digests(w, prints)
            .get(&name.canonical())
            .map(String::as_str),
    };
    let stored = version_meta(w, &name, pkg, brought, prepared, trusted)?;
    let page = stored.page(&index, site);
    put(w, &key, page.as_bytes(), ObjectKind::Html)?;
    let row = render::search_row(&pkg.name, &pkg.vers, stored.meta.description.as_deref());
    Ok(Rendered {
        fingerprint: Some(format!(
            "{} {}",
            fingerprint(site_key, &index),
            stored.digest()
        )),
        name,
        row: Some(row),
        index,
    })
}

// ---------------------------------------------------------------------------
// READMEs rendered ahead.

/// READMEs rendered ahead of a change's pages, by canonical name and version.
pub(crate) type Prepared = HashMap<(String, String), String>;

/// Starts rendering the README of the highest version each crate of
/// `added` brings (see `ChangeHook::prepare`) on a thread of its own (its
/// work in parallel); `None` when there is no README to render.
pub(crate) fn prepare(
    added: &[crate::registry::Added<'_>],
) -> Option<std::thread::JoinHandle<Prepared>> {
    let jobs: Vec<(String, String, String, String)> = added
        .iter()
        .filter_map(|(name, versions)| {
            let (vers, meta) = versions
                .iter()
                .filter_map(|(v, m)| Some((v, m.as_ref()?)))
                .max_by(|a, b| {
                    match (semver::Version::parse(a.0), semver::Version::parse(b.0)) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        _ => a.0.cmp(b.0),
                    }
                })?;
            let text = meta.readme.clone()?;
            let path = meta
                .readme_path
                .clone()
                .unwrap_or_else(|| "README.md".into());
            Some((name.canonical(), vers.clone(), text, path))
        })
        .collect();
    if jobs.is_empty() {
        return None;
    }
    std::thread::Builder::new()
        .name("regtool-readmes".into())
        .spawn(move || {
            jobs.into_par_iter()
                .map(|(c, v, text, path)| ((c, v), readme::readme_html(&text, &path)))
                .collect()
        })
        .ok()
}

// ---------------------------------------------------------------------------
// A change.

/// Brings the catalogue up to date for the crates `names` after a change
/// (see the module docs): re-reads their index files, writes their pages
/// (stores the metadata of the versions shown, `changes` bringing that of
/// the versions added), their search rows, fingerprints and feed entries,
/// then clears `clear` from the pending work. Without a readable state, or
/// when the site changed, it rebuilds everything. Nothing when the
/// registry's `html` setting is off.
///
/// # Errors
/// [`Error::Io`] naming the file; [`Error::Conflict`] when other writers
/// kept changing the search data.
pub(crate) fn update(
    w: &Writer,
    names: &[CrateName],
    changes: &[Change<'_>],
    prepared: &Prepared,
    clear: Vec<String>,
) -> Result<()> {
    if !w.settings.html {
        return Ok(());
    }
    let site = Site::new(&w.settings, &w.config);
    let key = site_key(&site);
    let mut added: HashMap<(String, String), &VersionMeta> = HashMap::new();
    for c in changes {
        for (vers, m) in &c.added {
            if let Some(m) = m {
                added.insert((c.name.canonical(), vers.clone()), m);
            }
        }
    }
    let mut seen = HashSet::new();
    let names: Vec<&CrateName> = names
        .iter()
        .filter(|n| seen.insert(n.canonical()))
        .collect();
    let prints = OnceLock::new();
    let rendered: Vec<Result<Rendered>> = names
        .par_iter()
        .map(|n| render_crate(w, n, &site, &key, &added, prepared, &prints))
        .collect();
    let rendered: Vec<Rendered> = rendered.into_iter().collect::<Result<_>>()?;
    let now = crate::index::pubtime_now();
    for attempt in 0..MAX_RETRIES {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(10 << attempt.min(6)));
        }
        let Some(stored) = read_catalogue(w)? else {
            w.barrier()?;
            return rebuild(w).map(|_| ());
        };
        if stored.state.site != key {
            w.barrier()?;
            return rebuild(w).map(|_| ());
        }
        let written = write_shared(w, &site, stored, &rendered, &now)?;
        if matches!(written, Written::FeedShort | Written::Unreadable) {
            w.barrier()?;
            return rebuild_with(w, true, None).map(|_| ());
        }
        if written == Written::Done {
            w.barrier()?;
            return edit_pending(w, Durability::Now, |p| {
                for n in &clear {
                    p.crates.remove(n);
                }
            });
        }
    }
    Err(Error::Conflict {
        path: w.locate(SEARCH_KEY),
    })
}

/// What [`write_shared`] did.
#[derive(PartialEq, Eq)]
enum Written {
    /// Another writer changed the search data since it was read: nothing.
    Conflict,
    /// Everything.
    Done,
    /// Everything, but versions left the feed and it holds fewer than
    /// [`FEED_LEN`]: only the index files know which come next.
    FeedShort,
    /// Nothing: a row of the search data or the fingerprints has no name.
    Unreadable,
}

/// Writes the search data (compare-and-swap), then the fingerprints, the
/// state and the feed, with the rows of `rendered` put in.
fn write_shared(
    w: &Writer,
    site: &Site,
    stored: Shared,
    rendered: &[Rendered],
    now: &str,
) -> Result<Written> {
    let Shared {
        mut state,
        search: (search_text, search_rev),
        pages: (pages_text, pages_rev),
    } = stored;
    let mut rows: BTreeMap<String, Option<&str>> = BTreeMap::new();
    let mut prints: BTreeMap<String, Option<String>> = BTreeMap::new();
    // The feed was the newest versions of all: when it was full, every
    // version newer than its last entry is in it, so the crates' versions
    // that sort before that entry are all it may take in.
    let cutoff = (state.feed.len() >= FEED_LEN).then(|| state.feed[FEED_LEN - 1].clone());
    for r in rendered {
        let canonical = r.name.canonical();
        let print = r.fingerprint.as_ref().map(|p| format!("{canonical} {p}"));
        rows.insert(canonical.clone(), r.row.as_deref());
        prints.insert(canonical.clone(), print);
        state.feed.retain(|e| name::canonical(&e.name) != canonical);
        let lines = r.index.lines.iter().map(|l| (r.name.as_str(), &l.package));
        state.feed.extend(
            newest(lines)
                .into_iter()
                .filter(|e| cutoff.as_ref().is_none_or(|c| feed_order(e, c).is_le())),
        );
    }
    sort_feed(&mut state.feed);
    state.feed.truncate(FEED_LEN);
    for e in &mut state.feed {
        if let Some(row) = rows.get(&name::canonical(&e.name)) {
            e.description = row.and_then(row_description);
        }
    }
    state.updated = now.to_string();
    let body =
        &search_text[render::SEARCH_PREFIX.len()..search_text.len() - render::SEARCH_SUFFIX.len()];
    let Some(body) = splice(body, ",\n", search_row_name, &rows) else {
        return Ok(Written::Unreadable);
    };
    let search = format!("{}{body}{}", render::SEARCH_PREFIX, render::SEARCH_SUFFIX);
    if search.as_bytes() != search_text.as_bytes() {
        let pre = Precondition::Unchanged(search_rev);
        let put = w.put_object(
            SEARCH_KEY,
            search.as_bytes(),
            ObjectKind::Script,
            &pre,
            Durability::Deferred,
        )?;
        if put == Outcome::Conflict {
            return Ok(Written::Conflict);
        }
    }
    let prints: BTreeMap<String, Option<&str>> = prints
        .iter()
        .map(|(k, v)| (k.clone(), v.as_deref()))
        .collect();
    let Some(prints) = splice(
        pages_text.trim_end_matches('\n'),
        "\n",
        fingerprint_row_name,
        &prints,
    ) else {
        return Ok(Written::Unreadable);
    };
    let prints = if prints.is_empty() {
        prints
    } else {
        prints + "\n"
    };
    if prints != pages_text {
        let put = w.put_object(
            PAGES_KEY,
            prints.as_bytes(),
            ObjectKind::State,
            &Precondition::from_read(pages_rev),
            Durability::Deferred,
        )?;
        if put == Outcome::Conflict {
            // Read both again: putting the same rows in twice changes nothing.
            return Ok(Written::Conflict);
        }
    }
    put(w, STATE_KEY, &state_bytes(&state), ObjectKind::State)?;
    if !state.foreign_feed {
        let feed = render::feed(&state.feed, site, &state.updated);
        put(w, FEED_KEY, feed.as_bytes(), ObjectKind::Feed)?;
    }
    if cutoff.is_some() && state.feed.len() < FEED_LEN {
        return Ok(Written::FeedShort);
    }
    Ok(Written::Done)
}

// ---------------------------------------------------------------------------
// The whole catalogue.

/// An index file as read for a rebuild: its key, contents and fingerprint.
struct Scanned {
    /// Its key.
    key: String,
    /// The canonical name of its crate (from the key: the last part, `-`
    /// as `_`).
    canonical: String,
    /// Its contents.
    file: Source,
    /// Its fingerprint ([`fingerprint`], computed on the bytes).
    fingerprint: String,
}

/// An index file's contents for a rebuild: read from the storage (parsed
/// only when its page is written), or as the command holds it.
enum Source {
    /// The bytes read.
    Bytes(Vec<u8>),
    /// The file the command that rebuilds holds (see
    /// [`crate::registry::IndexSnapshot`]).
    Parsed(IndexFile),
}

impl Scanned {
    /// The index file at `key` as read from the storage; `None` when it is
    /// gone.
    fn read(w: &Writer, key: &str, site_key: &str) -> Result<Option<Scanned>> {
        let Some(bytes) = w.read_raw(key)? else {
            return Ok(None);
        };
        Ok(Some(Scanned {
            key: key.to_string(),
            canonical: canonical_of_key(key),
            fingerprint: fingerprint_of_bytes(site_key, &bytes),
            file: Source::Bytes(bytes),
        }))
    }

    /// The index file `file` at `key`, as held.
    fn held(key: String, file: IndexFile, site_key: &str) -> Scanned {
        Scanned {
            canonical: canonical_of_key(&key),
            fingerprint: fingerprint(site_key, &file),
            key,
            file: Source::Parsed(file),
        }
    }

    /// The parsed index file; `None` when its bytes are not one (`verify`
    /// reports it).
    fn parse(self, w: &Writer) -> Option<IndexFile> {
        match self.file {
            Source::Bytes(bytes) => IndexFile::parse(&w.locate(&self.key), &bytes).ok(),
            Source::Parsed(file) => Some(file),
        }
    }
}

/// The canonical name of the crate of the index file at `key` (its last
/// part, `-` as `_`).
fn canonical_of_key(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).replace('-', "_")
}

/// The fingerprint of an index file's bytes: the same as [`fingerprint`] of
/// the file they parse to (non-blank lines), without parsing them.
fn fingerprint_of_bytes(site_key: &str, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(site_key.as_bytes());
    h.update([0]);
    for line in bytes.split(|b| *b == b'\n') {
        if !line.iter().all(u8::is_ascii_whitespace) {
            h.update(line);
            h.update(b"\n");
        }
    }
    let d = h.finalize();
    crate::crate_file::hex(&d[..8])
}

/// Writes the whole catalogue from the index files (`reindex`; turning it
/// on; a change to a registry without a readable state; pending work that
/// said so): the pages whose fingerprint changed or that are missing, the
/// search data, the feed (the newest versions by `pubtime`), the state, the
/// fingerprints and the static files where they differ, and deletes the
/// pages of crates that are gone. When every fingerprint, page and search
/// row is there and up to date, no index file is parsed and nothing but the
/// static files and the feed (a missing or damaged one is written again) is
/// compared; a page damaged in place is not noticed (delete it, and it is
/// written again). Metadata not stored yet is read from the
/// `.crate` files (and stored). Returns the number of crates. Nothing when
/// `html` is off.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn rebuild(w: &Writer) -> Result<usize> {
    rebuild_with(w, false, None)
}

/// [`rebuild`] from `index`, every index file as `reindex` holds it now
/// (see [`crate::registry::IndexSnapshot`]): no index file is read, and a
/// reindex that changed nothing writes nothing.
///
/// # Errors
/// As [`rebuild`].
pub(crate) fn rebuild_from(w: &Writer, index: crate::registry::IndexSnapshot) -> Result<usize> {
    rebuild_with(w, false, Some(index))
}

/// [`rebuild`]; `feed`: the feed is to be made again from the index files
/// even when every page is up to date; `index`: the index files as held
/// (else read).
fn rebuild_with(
    w: &Writer,
    feed: bool,
    index: Option<crate::registry::IndexSnapshot>,
) -> Result<usize> {
    if !w.settings.html {
        return Ok(0);
    }
    let site = Site::new(&w.settings, &w.config);
    let key = site_key(&site);
    let scanned: Vec<Scanned> = match index {
        Some(files) => files
            .into_par_iter()
            .map(|(k, file)| Scanned::held(k, file, &key))
            .collect(),
        None => {
            let scanned: Vec<Result<Option<Scanned>>> = w
                .index_keys()?
                .par_iter()
                .map(|k| Scanned::read(w, k, &key))
                .collect();
            scanned
                .into_iter()
                .filter_map(Result::transpose)
                .collect::<Result<_>>()?
        }
    };
    let stored = read_catalogue(w)?;
    // The pages' digests hold whatever the site: a page of another site is
    // rendered again, from the metadata it carries.
    let all_prints = OnceLock::from(
        stored
            .as_ref()
            .map(|s| digests(&s.pages.0))
            .unwrap_or_default(),
    );
    let old = stored.filter(|s| s.state.site == key);
    let (old_rows, old_prints) = match &old {
        Some(s) => (
            search_rows(&s.search.0).unwrap_or_default(),
            fingerprint_rows(&s.pages.0).unwrap_or_default(),
        ),
        None => Default::default(),
    };
    let pages: HashMap<String, String> = w
        .list_keys(PAGES_DIR)?
        .into_iter()
        .filter_map(|k| {
            let n = k
                .strip_prefix(PAGES_DIR)?
                .strip_prefix('/')?
                .strip_suffix(".html")?;
            Some((name::canonical(n), k.clone()))
        })
        .collect();
    let fresh = |s: &Scanned| {
        old_prints.get(&s.canonical).map(|v| print_of(v)) == Some(s.fingerprint.as_str())
            && old_rows.contains_key(&s.canonical)
            && pages.contains_key(&s.canonical)
    };
    let all_fresh = scanned.iter().all(fresh);
    let listed: HashSet<&str> = scanned.iter().map(|s| s.canonical.as_str()).collect();
    let extra = pages.keys().any(|c| !listed.contains(c.as_str()))
        || old_rows.len() != scanned.len()
        || old_prints.len() != scanned.len();
    let feed_there = match &old {
        Some(s) => s.state.foreign_feed || feed_is_current(w, &s.state, &site)?,
        None => false,
    };
    // A rebuild killed after the fingerprints and search data, before the
    // feed, left every page looking fresh and the feed behind: its marker
    // says so, and the feed is made again.
    let feed = feed || read_pending(w)?.0.all;
    if feed_there && all_fresh && !extra && !feed {
        // Nothing to do but what a lost static file needs.
        write_static(w, &site)?;
        clear_all_pending(w)?;
        return Ok(scanned.len());
    }
    edit_pending(w, Durability::Now, |p| p.all = true)?;
    let mut crates = Vec::new();
    for s in scanned {
        let is_fresh = fresh(&s);
        let Some(index) = s.parse(w) else {
            continue; // `verify` reports it
        };
        let Some(name) = render::shown_version(&index).and_then(|p| CrateName::new(&p.name).ok())
        else {
            continue;
        };
        crates.push((name, index, is_fresh));
    }
    let none = HashMap::new();
    let unprepared = Prepared::new();
    let rendered: Vec<Result<Rendered>> = crates
        .par_iter()
        .filter(|(_, _, fresh)| !fresh)
        .map(|(n, index, _)| {
            render_index(
                w,
                n.clone(),
                index.clone(),
                &site,
                &key,
                &none,
                &unprepared,
                &all_prints,
            )
        })
        .collect();
    let rendered: Vec<Rendered> = rendered.into_iter().collect::<Result<_>>()?;
    let wanted: HashSet<String> = crates.iter().map(|(n, ..)| n.canonical()).collect();
    for (c, k) in &pages {
        if !wanted.contains(c) {
            let _ = w.delete_object(k, &Precondition::Any)?;
        }
    }
    let mut rows: BTreeMap<String, &str> = BTreeMap::new();
    let mut prints: BTreeMap<String, String> = BTreeMap::new();
    for (n, _, is_fresh) in &crates {
        if *is_fresh {
            let c = n.canonical();
            rows.insert(c.clone(), old_rows[&c]);
            prints.insert(c.clone(), old_prints[&c].to_string());
        }
    }
    for r in &rendered {
        if let (Some(row), Some(print)) = (&r.row, &r.fingerprint) {
            rows.insert(r.name.canonical(), row.as_str());
            prints.insert(r.name.canonical(), print.clone());
        }
    }
    let now = crate::index::pubtime_now();
    let old_state = old.as_ref().map(|s| &s.state);
    let mut state = State {
        site: key.clone(),
        feed: newest(
            crates
                .iter()
                .flat_map(|(n, i, ..)| i.lines.iter().map(move |l| (n.as_str(), &l.package))),
        ),
        updated: old_state.map_or_else(|| now.clone(), |s| s.updated.clone()),
        foreign_feed: !ours(w, FEED_KEY, FEED_MARK)?,
    };
    for e in &mut state.feed {
        e.description = rows
            .get(&name::canonical(&e.name))
            .and_then(|r| row_description(r));
    }
    if old_state.is_none_or(|s| s.feed != state.feed) {
        state.updated = now;
    }
    let search = render::search_index(rows.values().copied());
    let prints = fingerprints_text(prints.iter().map(|(k, v)| (k, v.as_str())));
    let old_search = old.as_ref().map(|s| s.search.0.as_bytes());
    let old_prints = old.as_ref().map(|s| s.pages.0.as_bytes());
    let old_state_bytes = w.get_object(STATE_KEY)?.map(|o| o.bytes);
    write_static(w, &site)?;
    put_if_changed(
        w,
        SEARCH_KEY,
        old_search,
        search.as_bytes(),
        ObjectKind::Script,
    )?;
    put_if_changed(
        w,
        PAGES_KEY,
        old_prints,
        prints.as_bytes(),
        ObjectKind::State,
    )?;
    if !state.foreign_feed {
        let feed = render::feed(&state.feed, &site, &state.updated);
        let old_feed = w.get_object(FEED_KEY)?;
        put_if_changed(
            w,
            FEED_KEY,
            old_feed.as_ref().map(|o| o.bytes.as_slice()),
            feed.as_bytes(),
            ObjectKind::Feed,
        )?;
    }
    put_if_changed(
        w,
        STATE_KEY,
        old_state_bytes.as_deref(),
        &state_bytes(&state),
        ObjectKind::State,
    )?;
    w.barrier()?;
    // Every page is in today's form now (rendered or fresh): what older
    // regtools stored beside them is read no more.
    remove_old_meta(w)?;
    clear_all_pending(w)?;
    Ok(crates.len())
}

/// Deletes what older regtools stored under [`OLD_META_DIR`].
///
/// # Errors
/// [`Error::Io`] naming the folder or file.
pub(super) fn remove_old_meta(w: &Writer) -> Result<()> {
    for key in w.list_keys(OLD_META_DIR)? {
        let _ = w.delete_object(&key, &Precondition::Any)?;
    }
    Ok(())
}

/// Whether `feed.atom` holds exactly the feed `state` gives (one small
/// file read): a feed that is missing, damaged (truncated, emptied) or left
/// behind its state is not.
///
/// # Errors
/// [`Error::Io`] naming the feed.
fn feed_is_current(reg: &Registry, state: &State, site: &Site) -> Result<bool> {
    let want = render::feed(&state.feed, site, &state.updated);
    Ok(reg
        .get_object(FEED_KEY)?
        .is_some_and(|o| o.bytes == want.as_bytes()))
}

/// Clears every pending work (a rebuild did it all).
fn clear_all_pending(w: &Writer) -> Result<()> {
    if w.get_object(PENDING_KEY)?.is_some() {
        edit_pending(w, Durability::Now, |p| *p = Pending::default())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Checking (verify).

/// One way the catalogue does not describe the index: the file it is about
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The key of the file.
    pub(crate) key: String,
    /// What is wrong, for people.
    pub(crate) message: String,
}

/// Whether the catalogue describes the index: `index` holds every index
/// file that could be read (its crate's name as published and its lines),
/// `unreadable` the canonical names of those that could not (their pages,
/// rows and the feed are not judged: the index file is the problem). Finds
/// pending work, a missing or unreadable state, pages and search rows
/// missing, left over or not what the index file gives now (a page is
/// rendered again where its fingerprint differs, so that a change the page
/// does not show is none), or made for another site, and a feed that is not
/// the one the state gives (missing or damaged). A page damaged in place
/// (truncated, emptied) is not found: its fingerprint says it is current.
/// Nothing when `html` is off.
///
/// # Errors
/// [`Error::Io`] naming what cannot be read.
pub(crate) fn check(
    reg: &Registry,
    index: &[(CrateName, IndexFile)],
    unreadable: &HashSet<String>,
) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    if !reg.settings.html {
        return Ok(found);
    }
    let mut finding = |key: &str, message: String| {
        found.push(Finding {
            key: key.to_string(),
            message,
        });
    };
    let (pending, rev) = read_pending(reg)?;
    if rev.is_some() {
        let what = if pending.all {
            "the whole catalogue".to_string()
        } else {
            let list: Vec<&str> = pending.crates.iter().map(String::as_str).collect();
            format!("the pages of {}", list.join(", "))
        };
        finding(
            PENDING_KEY,
            format!("a run that failed or was killed left work on the catalogue pending ({what})"),
        );
    }
    let Some(stored) = read_catalogue(reg)? else {
        finding(
            STATE_KEY,
            "the catalogue's state or search data is missing or unreadable".into(),
        );
        return Ok(found);
    };
    let site = Site::new(&reg.settings, &reg.config);
    let key = site_key(&site);
    if stored.state.site != key {
        finding(
            STATE_KEY,
            "the catalogue was written for other settings (URL, name, access) or by another regtool"
                .into(),
        );
        return Ok(found);
    }
    let rows = search_rows(&stored.search.0).expect("checked when read");
    let prints = fingerprint_rows(&stored.pages.0).expect("checked when read");
    let pages: HashSet<String> = reg.list_keys(PAGES_DIR)?.into_iter().collect();
    let mut names = HashSet::new();
    for (n, file) in index {
        if render::shown_version(file).is_none() {
            continue;
        }
        let c = n.canonical();
        let page = page_key(n.as_str());
        if !pages.contains(&page) {
            finding(&page, format!("crate `{n}` has no catalogue page"));
        } else if prints
            .get(&c)
            .is_none_or(|p| print_of(p) != fingerprint(&key, file))
            && !page_is_current(
                reg,
                n,
                file,
                &site,
                prints.get(&c).and_then(|v| digest_of(v)),
            )?
        {
            finding(
                &page,
                format!("the page of `{n}` does not show its index file as it is"),
            );
        }
        if !rows.contains_key(&c) {
            finding(SEARCH_KEY, format!("crate `{n}` is not in the search data"));
        }
        names.insert(c);
        names.insert(page);
    }
    let judged = |p: &str| {
        p.strip_prefix(PAGES_DIR)
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.strip_suffix(".html"))
            .is_none_or(|n| !unreadable.contains(&name::canonical(n)))
    };
    for p in &pages {
        if p.ends_with(".html") && !names.contains(p) && judged(p) {
            finding(p, "a page of a crate the index does not hold".into());
        }
    }
    for c in rows.keys() {
        if !names.contains(c) && !unreadable.contains(c) {
            finding(
                SEARCH_KEY,
                format!("the search data lists `{c}`, which the index does not hold"),
            );
        }
    }
    let feed = newest(
        index
            .iter()
            .flat_map(|(n, i)| i.lines.iter().map(move |l| (n.as_str(), &l.package))),
    );
    let same = |a: &[FeedEntry], b: &[FeedEntry]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.name == y.name && x.vers == y.vers)
    };
    if unreadable.is_empty() && !stored.state.foreign_feed && !same(&feed, &stored.state.feed) {
        finding(
            FEED_KEY,
            "the feed does not list the newest versions".into(),
        );
    } else if !stored.state.foreign_feed && !feed_is_current(reg, &stored.state, &site)? {
        finding(
            FEED_KEY,
            "the feed is missing or damaged (it is not the feed the catalogue's state gives)"
                .into(),
        );
    }
    Ok(found)
}

/// Whether the stored page of `name` is the page its index file `file`
/// gives now (what a rebuild would write): a fingerprint differs for any
/// change of the file's bytes, such as a field the page does not show.
/// `trusted`: the record digest [`PAGES_KEY`] holds for the page.
fn page_is_current(
    reg: &Registry,
    name: &CrateName,
    file: &IndexFile,
    site: &Site,
    trusted: Option<&str>,
) -> Result<bool> {
    let Some(pkg) = render::shown_version(file) else {
        return Ok(true);
    };
    let Some(page) = read_page(reg, &page_key(name.as_str()))? else {
        return Ok(false);
    };
    let (stored, _) = read_meta(reg, name, pkg, trusted)?;
    Ok(page == stored.page(file, site).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(name: &str, tag: u8) -> String {
        render::search_row(
            name,
            "1.0.0",
            Some(&format!("row {tag} \u{2019}\u{e9}\u{20ac}")),
        )
    }

    /// Pages keep the README HTML they were rendered with for as long as
    /// [`README_VERSION`] says it is current, so a change of what the
    /// rendering gives (a sanitizer's update, the one-pass path) must bump
    /// it: this digest of a few READMEs' HTML fails until it is bumped too.
    #[test]
    fn readme_rendering_is_what_readme_version_says() {
        let samples = [
            "# Title\n\n*a* **b** `c` ~~d~~ [l](https://x.example/a?b=1&c=\"2\" \"t\") \
[rel](docs/x.md) ![i](javascript:alert(1)) <https://auto.example> <me@x.example>\n\n\
<!-- only a comment: the one-pass path -->\n",
            "<div align=\"center\"><img src=\"https://x.example/y.svg\" onerror=\"x()\"></div>\n\n\
<!-- comment -->\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n- [x] done\n- [ ] not\n\nNote[^1].\n\n\
[^1]: The footnote.\n",
            "```rust\nfn main() { println!(\"<&>\"); }\n```\n\n<script>alert(1)</script>\n\n\
> quote\n>\n> > nested\n\n1. one\n2. two\n\n---\nline  \nbreak \u{1} \u{fffe}\n",
        ];
        let mut h = Sha256::new();
        for text in samples {
            h.update(readme::readme_html(text, "README.md"));
            h.update([0]);
        }
        let got = crate::crate_file::hex(&h.finalize()[..8]);
        assert_eq!(
            (README_VERSION, got.as_str()),
            (2, "e2195c864c65e628"),
            "README rendering changed: bump README_VERSION (so that pages render their \
README again), then put the new digest here"
        );
    }

    /// A binary search that lands inside a character of a description
    /// (the mirror of the old corpus panicked so) still finds the rows.
    #[test]
    fn splice_over_multibyte_descriptions() {
        let long = "\u{2019}".repeat(40);
        let names = ["aa", "bb", "cc", "dd", "ee", "ff", "gg"];
        let rows: Vec<String> = names
            .iter()
            .map(|n| render::search_row(n, "1.0.0", Some(&long)))
            .collect();
        let body = rows.join(",\n");
        let new = render::search_row("dd", "2.0.0", Some(&long));
        let ups: BTreeMap<String, Option<&str>> = [("dd".to_string(), Some(new.as_str()))].into();
        let got = splice(&body, ",\n", search_row_name, &ups).unwrap();
        assert_eq!(got, body.replace(&rows[3], &new));
    }

    proptest! {
        /// Any texts round-trip through a page.
        #[test]
        fn any_metadata_round_trips_through_its_page(
            texts in proptest::collection::vec(any::<String>(), 4),
            keywords in proptest::collection::vec(any::<String>(), 0..3),
            readme in proptest::option::of(any::<String>()),
            unreadable in any::<bool>(),
        ) {
            let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
            let stored = Stored {
                cksum: "0f".repeat(32),
                renderer: README_VERSION,
                meta: VersionMeta {
                    description: opt(&texts[0]),
                    license: opt(&texts[1]),
                    repository: opt(&texts[2]),
                    readme_path: opt(&texts[3]),
                    keywords,
                    ..VersionMeta::default()
                },
                readme_html: readme,
                unreadable: unreadable.then(String::new),
            };
            let page = stored.page(&one_line(&stored.cksum), &site());
            prop_assert_eq!(Stored::from_page(page.as_bytes()), Some(stored));
        }

        /// Splicing rows in gives what sorting every row by canonical name
        /// gives (names differing in case and `-`/`_` included).
        #[test]
        fn splice_is_a_sorted_merge(
            old in proptest::collection::btree_set("[a-c][a-cA-C_-]{0,3}", 0..12),
            new in proptest::collection::vec(("[a-c][a-cA-C_-]{0,3}", any::<Option<u8>>()), 0..8),
        ) {
            // One spelling per canonical name, as in a registry.
            let mut want: BTreeMap<String, String> = BTreeMap::new();
            for n in &old {
                want.entry(name::canonical(n)).or_insert_with(|| row(n, 0));
            }
            let body: Vec<&str> = want.values().map(String::as_str).collect();
            let body = body.join(",\n");
            let mut updates: BTreeMap<String, Option<String>> = BTreeMap::new();
            for (n, tag) in &new {
                updates.insert(name::canonical(n), tag.map(|t| row(n, t)));
            }
            for (c, v) in &updates {
                match v {
                    Some(r) => { want.insert(c.clone(), r.clone()); }
                    None => { want.remove(c); }
                }
            }
            let ups: BTreeMap<String, Option<&str>> =
                updates.iter().map(|(k, v)| (k.clone(), v.as_deref())).collect();
            let want: Vec<&str> = want.values().map(String::as_str).collect();
            for sep in [",\n", "\n"] {
                let body = body.replace(",\n", sep);
                let got = splice(&body, sep, search_row_name, &ups).unwrap();
                prop_assert_eq!(got, want.join(sep));
            }
        }

        /// The fingerprint of an index file's bytes is that of the file
        /// they parse to.
        #[test]
        fn fingerprints_of_bytes_and_of_files_agree(
            blanks in proptest::collection::vec(0..3usize, 3),
            yanked in any::<bool>(),
        ) {
            let line = |v: &str| format!(
                r#"{{"name":"a","vers":"{v}","deps":[],"cksum":"00","features":{{}},"yanked":{yanked}}}"#
            );
            let gap = |n: usize| "\n  \n".repeat(n);
            let text = format!(
                "{}{}\n{}{}\n{}",
                gap(blanks[0]), line("1.0.0"), gap(blanks[1]), line("1.1.0"), gap(blanks[2])
            );
            let file = IndexFile::parse(std::path::Path::new("a"), text.as_bytes()).unwrap();
            prop_assert_eq!(fingerprint_of_bytes("k", text.as_bytes()), fingerprint("k", &file));
        }
    }

    fn site() -> Site {
        let settings = crate::config::Settings::new("https://h.example/reg".into());
        let config = crate::config::RegistryConfig::for_base_url(&settings.url, false);
        Site::new(&settings, &config)
    }

    fn one_line(cksum: &str) -> IndexFile {
        let line = format!(
            r#"{{"name":"a","vers":"1.0.0","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false}}"#
        );
        IndexFile::parse(std::path::Path::new("a"), line.as_bytes()).unwrap()
    }

    /// What can end or fake the record or the README section, and text
    /// HTML does not allow.
    const HOSTILE: &[&str] = &[
        "-->",
        "--!>",
        "<!--",
        "<!-",
        "<!--regtool-record {\"cksum\":\"00\",\"renderer\":2}-->\n",
        "\n</section>\n",
        "<section class=\"readme\" id=\"readme\">\n",
        "</script>",
        "\\u003c \\",
        "a\u{1}b\u{7f}c\u{85}d\u{FDD0}e\u{FFFE}f\u{10FFFF}g",
        "",
        " - ",
    ];

    /// A page gives back the metadata it was rendered from, whatever its
    /// texts hold; the README is read from between its markers.
    #[test]
    fn a_page_gives_back_its_metadata() {
        for (i, text) in HOSTILE.iter().enumerate() {
            let meta = VersionMeta {
                description: Some((*text).to_string()),
                license: Some(format!("MIT{text}")),
                keywords: vec![(*text).to_string(), "k-w".into()],
                readme_path: Some(format!("docs/{text}")),
                ..VersionMeta::default()
            };
            let stored = Stored {
                cksum: format!("{i:064x}"),
                renderer: README_VERSION,
                meta,
                readme_html: Some(format!("<p>{text}</p>{text}")),
                unreadable: (i % 2 == 0).then(String::new),
            };
            let page = stored.page(&one_line(&stored.cksum), &site());
            assert_eq!(
                Stored::from_page(page.as_bytes()),
                Some(stored.clone()),
                "{text:?}"
            );
            // The record is an HTML comment of allowed characters only.
            let open = page.find(render::RECORD_OPEN).unwrap();
            let record = &page[open..open + page[open..].find("-->\n").unwrap()];
            assert!(
                !record[4..].contains("--") && !record.contains('>'),
                "{record}"
            );
            assert!(record.chars().all(render::allowed), "{record:?}");
            // None or no README.
            let bare = Stored {
                readme_html: None,
                ..stored.clone()
            };
            let page = bare.page(&one_line(&bare.cksum), &site());
            assert_eq!(Stored::from_page(page.as_bytes()), Some(bare), "{text:?}");
        }
    }

    /// A page that is not ours, has no record, or is damaged where it is
    /// read gives nothing (the `.crate` is read instead).
    #[test]
    fn a_damaged_or_foreign_page_gives_nothing() {
        let stored = Stored {
            cksum: "ab".repeat(32),
            renderer: README_VERSION,
            meta: VersionMeta {
                description: Some("d".into()),
                ..VersionMeta::default()
            },
            readme_html: Some("<p>readme</p>".into()),
            unreadable: None,
        };
        let page = stored.page(&one_line(&stored.cksum), &site());
        assert!(Stored::from_page(page.as_bytes()).is_some());
        let cut = |at: &str| page[..page.find(at).unwrap()].to_string();
        for damaged in [
            String::new(),
            "<html>someone else's</html>".to_string(),
            page.replace(super::HTML_MARK, ""),
            page.replace(render::RECORD_OPEN, "<!--"),
            page.replace("\"cksum\"", "\"cks"),
            page.replace("<p>readme</p>", "<p>readme!</p>"),
            page.replace("<p>readme</p>", "<p>read</p>"),
            cut("<p>readme</p>"),
            cut("</section>"),
            cut("\"renderer\""),
        ] {
            assert_eq!(Stored::from_page(damaged.as_bytes()), None, "{damaged}");
        }
        // Not valid UTF-8.
        let mut bytes = page.into_bytes();
        bytes.push(0xff);
        assert_eq!(Stored::from_page(&bytes), None);
    }

    #[test]
    fn rows_name_their_crate() {
        assert_eq!(search_row_name(&row("Foo-bar", 1)), Some("Foo-bar"));
        assert_eq!(search_row_name("garbage"), None);
        assert_eq!(fingerprint_row_name("foo_bar 0123"), Some("foo_bar"));
        assert!(cmp_canonical("Foo-Bar", "foo_bar").is_eq());
        assert!(cmp_canonical("foo-a", "foo_b").is_lt());
    }
}
