//! Writing the catalogue: its state, the pages, the search data and the
//! feed, kept up to date change by change or rebuilt whole. Floor 4
//! (`catalogue`); compiled with the `html` feature only (see the parent
//! module for what a build without it does).

use super::{DIR, FEED_KEY, FEED_MARK, HTML_MARK, INDEX_KEY, PENDING_DIR, STATE_KEY, ours, render};
use crate::error::Result;
use crate::index::IndexFile;
use crate::layout;
use crate::meta::VersionMeta;
use crate::name::CrateName;
use crate::registry::{Change, Registry, Writer};
use crate::storage::{Durability, ObjectKind, Outcome, Precondition};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Key of the search data.
pub(crate) const SEARCH_KEY: &str = "catalogue/search-index.js";
/// Key of the search script.
pub(crate) const SCRIPT_KEY: &str = "catalogue/search.js";
/// Key of the style sheet.
pub(crate) const STYLE_KEY: &str = "catalogue/style.css";
/// Versions in the feed.
pub(crate) const FEED_LEN: usize = 50;
/// How often the state is written again after another writer changed it first.
const MAX_RETRIES: usize = 24;

const SEARCH_JS: &str = include_str!("search.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Key of the page of the crate `name` (as published).
pub(crate) fn page_key(name: &str) -> String {
    format!("{DIR}/crates/{name}.html")
}

/// Key of the stored metadata of `name` `vers`.
pub(crate) fn meta_key(name: &str, vers: &str) -> String {
    format!(".regtool/meta/{name}/{vers}.json")
}

/// The catalogue's state: the crates as in the search data ([`SEARCH_KEY`],
/// read back on each change: the one large file, written once), the rest in
/// [`STATE_KEY`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// Every crate, by canonical name ([`crate::name::canonical`]).
    #[serde(skip)]
    pub(crate) crates: BTreeMap<String, CrateSummary>,
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

/// One crate in the search data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CrateSummary {
    /// Name as published.
    pub(crate) name: String,
    /// The version its page shows (see [`render::shown_version`]).
    pub(crate) latest: String,
    /// That version's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
}

/// One version in the feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FeedEntry {
    /// Crate name as published.
    pub(crate) name: String,
    /// Version.
    pub(crate) vers: String,
    /// Its `pubtime` (or when it was added), RFC 3339.
    pub(crate) time: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
}

fn put(reg: &Writer, key: &str, bytes: &[u8], kind: ObjectKind) -> Result<()> {
    let _ = reg.put_object(key, bytes, kind, &Precondition::Any, Durability::Deferred)?;
    Ok(())
}

/// Writes `bytes` at `key` unless it holds them already.
fn put_if_changed(reg: &Writer, key: &str, bytes: &[u8], kind: ObjectKind) -> Result<bool> {
    if reg.get_object(key)?.is_some_and(|o| o.bytes == bytes) {
        return Ok(false);
    }
    put(reg, key, bytes, kind)?;
    Ok(true)
}

/// The search data as [`render::search_index`] writes it.
#[derive(Deserialize)]
struct SearchFile {
    crates: Vec<(String, String, String)>,
}

/// Reads the state (see [`State`]) and the search data's revision; `None`
/// when either file is missing or cannot be read (then it is rebuilt).
fn read_state(reg: &Registry) -> Result<Option<(State, crate::storage::Revision)>> {
    let (Some(search), Some(rest)) = (reg.get_object(SEARCH_KEY)?, reg.get_object(STATE_KEY)?)
    else {
        return Ok(None);
    };
    let Ok(mut state) = serde_json::from_slice::<State>(&rest.bytes) else {
        return Ok(None);
    };
    let json = std::str::from_utf8(&search.bytes)
        .ok()
        .and_then(|t| t.strip_prefix(render::SEARCH_PREFIX))
        .and_then(|t| t.strip_suffix(render::SEARCH_SUFFIX));
    let Some(file) = json.and_then(|j| serde_json::from_str::<SearchFile>(j).ok()) else {
        return Ok(None);
    };
    state.crates = file
        .crates
        .into_iter()
        .map(|(name, latest, description)| {
            (
                crate::name::canonical(&name),
                CrateSummary {
                    name,
                    latest,
                    description: (!description.is_empty()).then_some(description),
                },
            )
        })
        .collect();
    Ok(Some((state, search.revision)))
}

fn state_bytes(state: &State) -> Vec<u8> {
    serde_json::to_vec(state).expect("state serializes")
}

/// The metadata of `name` `vers`: `known`, else the stored file, else read
/// from the stored `.crate` (and stored for next time).
fn version_meta(reg: &Writer, name: &CrateName, vers: &str) -> Result<VersionMeta> {
    let key = meta_key(name.as_str(), vers);
    if let Some(o) = reg.get_object(&key)?
        && let Ok(m) = serde_json::from_slice(&o.bytes)
    {
        return Ok(m);
    }
    let crate_key = layout::crate_key(name, vers);
    let meta = match reg.read_stored_crate(&crate_key, None) {
        Ok(e) => e.meta,
        Err(crate::Error::NotFound { .. }) => return Ok(VersionMeta::default()),
        Err(e) => return Err(e),
    };
    put(reg, &key, &meta_bytes(&meta), ObjectKind::State)?;
    Ok(meta)
}

fn meta_bytes(m: &VersionMeta) -> Vec<u8> {
    serde_json::to_vec(m).expect("metadata serializes")
}

/// Writes the feed unless `feed.atom` is someone else's.
fn write_feed(reg: &Writer, state: &State, now: &str) -> Result<()> {
    if !state.foreign_feed {
        let feed = render::feed(state, &reg.settings, now);
        put(reg, FEED_KEY, feed.as_bytes(), ObjectKind::Feed)?;
    }
    Ok(())
}

/// Writes the files every catalogue has (start page, script, style sheet);
/// an `index.html` regtool did not write is left alone.
fn write_static(reg: &Writer) -> Result<()> {
    if ours(reg, INDEX_KEY, HTML_MARK)? {
        put_if_changed(
            reg,
            INDEX_KEY,
            render::index_page(&reg.settings).as_bytes(),
            ObjectKind::Html,
        )?;
    }
    put_if_changed(reg, SCRIPT_KEY, SEARCH_JS.as_bytes(), ObjectKind::Script)?;
    put_if_changed(reg, STYLE_KEY, STYLE_CSS.as_bytes(), ObjectKind::Style)?;
    Ok(())
}

fn summary(index: &IndexFile, meta: &VersionMeta) -> Option<CrateSummary> {
    render::shown_version(index).map(|p| CrateSummary {
        name: p.name.clone(),
        latest: p.vers.clone(),
        description: meta.description.clone(),
    })
}

/// Brings the catalogue up to date after `changes` (see the module docs):
/// stores the metadata of added versions, deletes that of removed ones,
/// updates the state (compare-and-swap, retried when another writer changed
/// it first) and rewrites the changed crates' pages, the search data and the
/// feed. Without a state (a registry made before the catalogue, or whose
/// state was lost) it rebuilds everything once. Does nothing when the
/// registry's `html` setting is off.
///
/// # Errors
/// [`crate::Error::Io`] naming the file; errors reading a stored `.crate`
/// whose metadata is not stored.
pub(super) fn update(reg: &Writer, changes: &[Change<'_>]) -> Result<()> {
    if !reg.settings.html || changes.is_empty() {
        return Ok(());
    }
    // Crates a killed run left marked: their pages as their index files are now.
    let pending = if reg.cheap_listing() {
        reg.list_keys(PENDING_DIR)?
    } else {
        Vec::new()
    };
    let mut left: Vec<(CrateName, IndexFile)> = Vec::new();
    for key in &pending {
        let canonical = &key[PENDING_DIR.len() + 1..];
        if changes.iter().any(|c| c.name.canonical() == canonical) {
            continue;
        }
        // The marker holds the name as published (its page's name).
        let Some(name) = reg
            .get_object(key)?
            .and_then(|o| String::from_utf8(o.bytes).ok())
            .and_then(|n| CrateName::new(&n).ok())
        else {
            continue;
        };
        match reg.find_crate(&name)? {
            Some(s) => left.push((s.name, s.index)),
            None => left.push((name, IndexFile::default())),
        }
    }
    let all: Vec<Change<'_>>;
    let changes = if left.is_empty() {
        changes
    } else {
        all = changes
            .iter()
            .map(|c| Change {
                name: c.name,
                index: c.index,
                added: c.added.clone(),
                removed: c.removed.clone(),
            })
            .chain(left.iter().map(|(name, index)| Change {
                name,
                index,
                added: Vec::new(),
                removed: Vec::new(),
            }))
            .collect();
        &all
    };
    let now = crate::index::pubtime_now();
    // Metadata first: the pages are made from it.
    let mut metas: HashMap<String, VersionMeta> = HashMap::new();
    for c in changes {
        for (vers, m) in &c.added {
            if let Some(m) = m {
                put(
                    reg,
                    &meta_key(c.name.as_str(), vers),
                    &meta_bytes(m),
                    ObjectKind::State,
                )?;
            }
        }
        for vers in &c.removed {
            let _ = reg.delete_object(&meta_key(c.name.as_str(), vers), &Precondition::Any)?;
        }
        if let Some(p) = render::shown_version(c.index) {
            let m = match c.added.iter().find(|(v, _)| *v == p.vers) {
                Some((_, Some(m))) => m.clone(),
                _ => version_meta(reg, c.name, &p.vers)?,
            };
            metas.insert(c.name.canonical(), m);
        }
    }
    let mut state = None;
    for attempt in 0..MAX_RETRIES {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(10 << attempt.min(6)));
        }
        let Some((mut s, rev)) = read_state(reg)? else {
            reg.barrier()?;
            return rebuild(reg).map(|_| ());
        };
        apply(&mut s, changes, &metas, &now);
        // The search data is the guard: written only if no other writer
        // changed it since it was read.
        let search = render::search_index(&s);
        let pre = Precondition::Unchanged(rev);
        if reg.put_object(
            SEARCH_KEY,
            search.as_bytes(),
            ObjectKind::Script,
            &pre,
            Durability::Deferred,
        )? == Outcome::Done
        {
            put(reg, STATE_KEY, &state_bytes(&s), ObjectKind::State)?;
            state = Some(s);
            break;
        }
    }
    let Some(state) = state else {
        return Err(crate::Error::Conflict {
            path: reg.locate(SEARCH_KEY),
        });
    };
    for c in changes {
        let key = page_key(c.name.as_str());
        match metas.get(&c.name.canonical()) {
            Some(m) => put(
                reg,
                &key,
                render::crate_page(c.index, m, &state, &reg.settings).as_bytes(),
                ObjectKind::Html,
            )?,
            None => {
                let _ = reg.delete_object(&key, &Precondition::Any)?;
            }
        }
    }
    write_feed(reg, &state, &now)?;
    reg.barrier()?;
    if reg.cheap_listing() {
        for c in changes {
            let _ = reg.delete_object(&pending_key(c.name), &Precondition::Any)?;
        }
    }
    Ok(())
}

fn pending_key(name: &CrateName) -> String {
    format!("{PENDING_DIR}/{}", name.canonical())
}

/// Marks `names` as being changed (see [`PENDING_DIR`]), before their index
/// files are written; durable after the storage's next barrier when
/// `durability` is [`Durability::Deferred`]. Nothing when `html` is off.
///
/// # Errors
/// [`crate::Error::Io`] naming the marker.
pub(super) fn mark_pending<'a>(
    reg: &Writer,
    names: impl IntoIterator<Item = &'a CrateName>,
    durability: Durability,
) -> Result<()> {
    // Object storage: no markers (finding them would list the bucket on every
    // change); a killed run's pages wait for the crate's next change or `reindex`.
    if !reg.settings.html || !reg.cheap_listing() {
        return Ok(());
    }
    for name in names {
        let _ = reg.put_object(
            &pending_key(name),
            name.as_str().as_bytes(),
            ObjectKind::State,
            &Precondition::Any,
            durability,
        )?;
    }
    Ok(())
}

/// Applies `changes` to the state `s`.
fn apply(s: &mut State, changes: &[Change<'_>], metas: &HashMap<String, VersionMeta>, now: &str) {
    for c in changes {
        let canonical = c.name.canonical();
        match metas.get(&canonical).and_then(|m| summary(c.index, m)) {
            Some(sum) => {
                s.crates.insert(canonical.clone(), sum);
            }
            None => {
                s.crates.remove(&canonical);
            }
        }
        s.feed
            .retain(|e| !(e.name == c.name.as_str() && c.removed.contains(&e.vers)));
        for (vers, _) in &c.added {
            let Some(line) = c.index.lines.iter().find(|l| l.package.vers == *vers) else {
                continue;
            };
            s.feed
                .retain(|e| !(e.name == c.name.as_str() && e.vers == *vers));
            s.feed.insert(
                0,
                FeedEntry {
                    name: c.name.to_string(),
                    vers: vers.clone(),
                    time: line
                        .package
                        .pubtime
                        .clone()
                        .unwrap_or_else(|| now.to_string()),
                    description: metas.get(&canonical).and_then(|m| m.description.clone()),
                },
            );
        }
    }
    for e in &mut s.feed {
        if let Some(c) = s.crates.get(&crate::name::canonical(&e.name)) {
            e.description = c.description.clone();
        }
    }
    sort_feed(&mut s.feed);
    s.feed.truncate(FEED_LEN);
    s.updated = now.to_string();
}

/// The feed's order: newest first, then by name and version (so that a
/// rebuild gives what the changes one by one gave).
fn sort_feed(feed: &mut [FeedEntry]) {
    feed.sort_by(|a, b| {
        b.time
            .cmp(&a.time)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.vers.cmp(&b.vers))
    });
}

/// Writes the whole catalogue from the index files (`reindex`; turning it on;
/// a change to a registry without a state): every page, the search data, the
/// feed (the newest versions by `pubtime`), the state, the static files; and
/// deletes pages of crates that are gone. Only files whose bytes change are
/// written. Metadata not stored yet is read from the `.crate` files (and
/// stored). Returns the number of crates. Does nothing when `html` is off.
///
/// # Errors
/// [`crate::Error::Io`], [`crate::Error::IndexFile`] naming the file.
pub(super) fn rebuild(reg: &Writer) -> Result<usize> {
    use rayon::prelude::*;
    if !reg.settings.html {
        return Ok(0);
    }
    let now = crate::index::pubtime_now();
    let keys = reg.index_keys()?;
    let read: Vec<Result<Option<(CrateName, IndexFile, VersionMeta)>>> = keys
        .par_iter()
        .map(|key| {
            let Some((index, _)) = reg.read_index_key(key)? else {
                return Ok(None);
            };
            let Some(p) = render::shown_version(&index) else {
                return Ok(None);
            };
            let Ok(name) = CrateName::new(&p.name) else {
                return Ok(None);
            };
            let vers = p.vers.clone();
            let meta = version_meta(reg, &name, &vers)?;
            Ok(Some((name, index, meta)))
        })
        .collect();
    let mut crates = Vec::new();
    for r in read {
        if let Some(c) = r? {
            crates.push(c);
        }
    }
    let old = read_state(reg)?.map(|(s, _)| s);
    let mut state = State {
        updated: old.map_or(now.clone(), |s| s.updated),
        foreign_feed: !ours(reg, FEED_KEY, FEED_MARK)?,
        ..State::default()
    };
    let mut feed = Vec::new();
    for (name, index, meta) in &crates {
        if let Some(sum) = summary(index, meta) {
            state.crates.insert(name.canonical(), sum);
        }
        for l in &index.lines {
            if let Some(t) = &l.package.pubtime {
                feed.push((t.clone(), name, l.package.vers.clone()));
            }
        }
    }
    let mut entries: Vec<FeedEntry> = feed
        .into_iter()
        .map(|(time, name, vers)| FeedEntry {
            name: name.to_string(),
            description: state
                .crates
                .get(&name.canonical())
                .and_then(|c| c.description.clone()),
            vers,
            time,
        })
        .collect();
    sort_feed(&mut entries);
    entries.truncate(FEED_LEN);
    state.feed = entries;
    let mut pages = std::collections::HashSet::new();
    crates.par_iter().try_for_each(|(name, index, meta)| {
        let key = page_key(name.as_str());
        put_if_changed(
            reg,
            &key,
            render::crate_page(index, meta, &state, &reg.settings).as_bytes(),
            ObjectKind::Html,
        )
        .map(|_| ())
    })?;
    pages.extend(crates.iter().map(|(n, _, _)| page_key(n.as_str())));
    for key in reg.list_keys(&format!("{DIR}/crates"))? {
        if key.ends_with(".html") && !pages.contains(&key) {
            let _ = reg.delete_object(&key, &Precondition::Any)?;
        }
    }
    write_static(reg)?;
    put_if_changed(
        reg,
        SEARCH_KEY,
        render::search_index(&state).as_bytes(),
        ObjectKind::Script,
    )?;
    if !state.foreign_feed {
        let feed = render::feed(&state, &reg.settings, &state.updated);
        put_if_changed(reg, FEED_KEY, feed.as_bytes(), ObjectKind::Feed)?;
    }
    put_if_changed(reg, STATE_KEY, &state_bytes(&state), ObjectKind::State)?;
    reg.barrier()?;
    if reg.cheap_listing() {
        for key in reg.list_keys(PENDING_DIR)? {
            let _ = reg.delete_object(&key, &Precondition::Any)?;
        }
    }
    Ok(crates.len())
}
