//! The browsable catalogue: static HTML pages regtool writes into the registry
//! beside the index, so that people can look at the crates before they depend
//! on them (`regtool init --no-html` or `regtool settings --html false` turn it
//! off). Floor 4 (`catalogue`): imports the registry and below, and is
//! imported by no floor below the commands; the opener (`crate::location`)
//! installs [`Catalogue`] as the registry's [`ChangeHook`].
//!
//! Keys (none is the registry's own, see [`layout::is_registry_key`]: index
//! files live in 1- or 2-character top folders and `crates/` holds the
//! `.crate` files):
//! - [`INDEX_KEY`] `index.html`: a search box over every crate, and how to
//!   use the registry from cargo;
//! - [`SEARCH_KEY`](pages::SEARCH_KEY) `catalogue/search-index.js`: the
//!   search data (a script, so that the page works from `file://` too; one
//!   crate per line), [`SCRIPT_KEY`](pages::SCRIPT_KEY),
//!   [`STYLE_KEY`](pages::STYLE_KEY);
//! - `catalogue/crates/{name}.html`: one page per crate;
//! - [`FEED_KEY`] `feed.atom`: the newest [`FEED_LEN`](pages::FEED_LEN)
//!   versions (RFC 4287);
//! - [`STATE_KEY`] `.regtool/catalogue.json` (the feed, the site the pages
//!   were made for) and [`PAGES_KEY`] `.regtool/catalogue-pages` (each
//!   page's fingerprint and record digest): with the search data, the state a change updates
//!   without reading every index file;
//! - [`PENDING_KEY`] `.regtool/catalogue-pending.json`:
//!   the work under way, which the next change finishes when a run failed;
//!
//! A page carries, in its head, the metadata (description, license...) of
//! the version it shows and the `cksum` of the `.crate` it was read from, and
//! its README section is the README as HTML: a page is rendered again
//! (another version, a yank, another site) without reading the `.crate`,
//! and each crate has one file (see `pages::Record`). Older regtools stored
//! that metadata under [`OLD_META_DIR`].
//!
//! The index is the truth and the catalogue is derived from it: a failure to
//! write the catalogue never fails the change of the index (the writer turns
//! it into a warning, see [`crate::registry::Writer`]); the pending work it
//! leaves is finished by the next change or `regtool reindex`, and `regtool
//! verify` reports a catalogue that does not describe the index
//! ([`pages::check`]).
//!
//! Every Unicode text is made valid for the format it goes into
//! ([`render::clean`]), and a README is rendered in time linear in its size
//! ([`readme`]).
//!
//! Writing it needs the `html` Cargo feature (pulldown-cmark, ammonia,
//! html5ever; on by default), whose code is [`pages`], [`render`] and
//! [`readme`]. A build without it keeps the keys and [`remove_all`], and its
//! hook refuses, before anything is written ([`ChangeHook::can_follow`]),
//! every change to a registry whose catalogue is on, and turning it on: a
//! catalogue is never left behind its index. Turning it off works in every
//! build.

#[cfg(feature = "html")]
mod pages;
#[cfg(feature = "html")]
pub(crate) mod readme;
#[cfg(feature = "html")]
pub(crate) mod render;
#[cfg(feature = "html")]
pub use readme::sanitized_both_ways as readme_sanitized_both_ways;

pub(crate) use pages::check;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::layout;
use crate::name::CrateName;
use crate::registry::{Added, Change, ChangeHook, Derived, IndexSnapshot, Registry, Writer};
use crate::storage::{Durability, Precondition};

/// Key of the catalogue's start page.
pub(crate) const INDEX_KEY: &str = "index.html";
/// Key of the Atom feed of new versions.
pub(crate) const FEED_KEY: &str = "feed.atom";
/// Folder of the catalogue's other files.
pub(crate) const DIR: &str = "catalogue";
/// Key of the catalogue's state.
pub(crate) const STATE_KEY: &str = ".regtool/catalogue.json";
/// Key of the pages' fingerprints: one line per crate, `{canonical name}
/// {fingerprint} {record digest}` (the digest of the metadata and README
/// the page shows: a page is read back only when it still has it), sorted
/// by canonical name.
pub(crate) const PAGES_KEY: &str = ".regtool/catalogue-pages";
/// Key of the work under way: JSON, the crates whose pages are to be
/// brought up to date (names as published) and whether the whole catalogue
/// is.
pub(crate) const PENDING_KEY: &str = ".regtool/catalogue-pending.json";
/// What every page regtool writes holds: an `index.html` or `feed.atom`
/// without it is someone else's and is never overwritten or deleted.
pub const HTML_MARK: &str = "<meta name=\"generator\" content=\"regtool\">";
/// The feed's mark (see [`HTML_MARK`]).
pub const FEED_MARK: &str = "<generator>regtool</generator>";
/// Folder of the metadata older regtools stored beside the pages
/// (`{name}.json`; before that `{name}/{version}.json`): read where a page
/// carries no record of its own (the rebuild that turns their pages into
/// today's form, which a regtool that draws pages differently does once),
/// then deleted by that rebuild, and by turning the catalogue off. Nothing
/// writes it any more: each new file is an inode, a temporary file and a
/// rename, which cost more than their bytes.
pub(crate) const OLD_META_DIR: &str = ".regtool/meta";
/// Folder of the per-crate markers of pending work older regtools wrote
/// (now [`pages::PENDING_KEY`]); removed with the catalogue.
const OLD_PENDING_DIR: &str = ".regtool/catalogue-pending";

/// Whether the object at `key` is regtool's to write: absent, empty (no
/// one's: a file of ours emptied), or holding `mark`.
pub(crate) fn ours(reg: &Registry, key: &str, mark: &str) -> Result<bool> {
    Ok(reg.get_object(key)?.is_none_or(|o| {
        o.bytes.is_empty() || std::str::from_utf8(&o.bytes).is_ok_and(|t| t.contains(mark))
    }))
}

/// Deletes the catalogue's served files, its state and what older regtools
/// stored under [`OLD_META_DIR`] (turning it off); an `index.html` or
/// `feed.atom` regtool did not write stays.
///
/// # Errors
/// [`crate::Error::Io`] naming the file.
fn remove_all(reg: &Writer) -> Result<()> {
    let mut keys = reg.list_keys(DIR)?;
    if reg.cheap_listing() {
        keys.extend(reg.list_keys(OLD_PENDING_DIR)?);
    }
    keys.extend(reg.list_keys(OLD_META_DIR)?);
    keys.extend([
        STATE_KEY.to_string(),
        PAGES_KEY.to_string(),
        PENDING_KEY.to_string(),
    ]);
    if ours(reg, INDEX_KEY, HTML_MARK)? {
        keys.push(INDEX_KEY.into());
    }
    if ours(reg, FEED_KEY, FEED_MARK)? {
        keys.push(FEED_KEY.into());
    }
    for key in keys {
        let _ = reg.delete_object(&key, &Precondition::Any)?;
    }
    Ok(())
}

/// Whether this build writes the catalogue (the `html` feature).
pub(crate) const BUILT: bool = cfg!(feature = "html");

/// The refusal of a build without the `html` feature to change a registry
/// whose catalogue is on (`turning_on`: to turn it on), naming the registry's
/// settings file.
fn missing(reg: &Registry, turning_on: bool) -> Error {
    Error::FeatureMissing {
        path: reg.locate(layout::SETTINGS_KEY),
        feature: "html",
        needs: if turning_on {
            "the catalogue (`--html true`)"
        } else {
            "this registry's catalogue (`html = true`), which every change updates,"
        },
        hint: if turning_on {
            ""
        } else {
            "; or turn the catalogue off with `regtool settings --html false`"
        },
    }
}

/// What a build without the `html` feature does where a full build writes
/// the catalogue: nothing while it is off, and a refusal
/// ([`Error::FeatureMissing`]) if it is on, which
/// [`ChangeHook::can_follow`] has given before anything was written; pending
/// work waits for a build with it, and `verify` says nothing of the
/// catalogue.
#[cfg(not(feature = "html"))]
// The signatures are the full build's (`pages.rs`), whose bodies can fail.
#[allow(clippy::unnecessary_wraps)]
mod pages {
    use crate::error::Result;
    use crate::index::IndexFile;
    use crate::name::CrateName;
    use crate::registry::{Change, Registry, Writer};
    use crate::storage::Durability;

    fn refuse_if_on(reg: &Writer) -> Result<()> {
        if reg.settings.html {
            return Err(super::missing(reg, false));
        }
        Ok(())
    }

    /// READMEs rendered ahead (none in this build).
    #[derive(Debug, Default)]
    pub(crate) struct Prepared;

    pub(super) fn prepare(
        _added: &[crate::registry::Added<'_>],
    ) -> Option<std::thread::JoinHandle<Prepared>> {
        None
    }

    pub(super) fn resume(_reg: &Writer) -> Result<()> {
        Ok(())
    }

    pub(super) fn mark_pending(
        reg: &Writer,
        _names: &[&CrateName],
        _durability: Durability,
    ) -> Result<()> {
        refuse_if_on(reg)
    }

    pub(super) fn mark_all_pending(reg: &Writer) -> Result<()> {
        refuse_if_on(reg)
    }

    pub(super) fn update(
        reg: &Writer,
        _names: &[CrateName],
        _changes: &[Change<'_>],
        _prepared: &Prepared,
        _clear: Vec<String>,
    ) -> Result<()> {
        refuse_if_on(reg)
    }

    pub(super) fn rebuild(reg: &Writer) -> Result<usize> {
        refuse_if_on(reg).map(|()| 0)
    }

    pub(super) fn rebuild_from(
        reg: &Writer,
        _index: crate::registry::IndexSnapshot,
    ) -> Result<usize> {
        refuse_if_on(reg).map(|()| 0)
    }

    pub(super) fn site_changed(_reg: &Writer) -> Result<bool> {
        Ok(false)
    }

    /// A finding of [`check`] (none in this build).
    pub(crate) struct Finding {
        pub(crate) key: String,
        pub(crate) message: String,
    }

    pub(crate) fn check(
        _reg: &Registry,
        _index: &[(CrateName, IndexFile)],
        _unreadable: &std::collections::HashSet<String>,
    ) -> Result<Vec<Finding>> {
        Ok(Vec::new())
    }
}

/// The catalogue as the registry's [`ChangeHook`]: every change of the index
/// is carried over to the pages (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Catalogue {
    /// READMEs being rendered beside a change's writes
    /// ([`ChangeHook::prepare`]), for the pages written after it.
    prepared: std::sync::Mutex<Option<std::thread::JoinHandle<pages::Prepared>>>,
}

impl ChangeHook for Catalogue {
    /// A build without the `html` feature refuses every change to a registry
    /// whose catalogue is on, and turning it on; turning it off is done
    /// (it only deletes files).
    fn can_follow(&self, writer: &Writer, settings: &Settings) -> Result<()> {
        if settings.html && !BUILT {
            return Err(missing(writer, !writer.settings.html));
        }
        Ok(())
    }

    fn describe(&self) -> &'static str {
        "the catalogue"
    }

    /// Finishes the work a failed or killed run left.
    fn resume(&self, writer: &Writer) -> Result<()> {
        if !writer.settings.html {
            return Ok(());
        }
        pages::resume(writer)
    }

    /// Starts rendering, in the background, the README of the highest
    /// version each crate adds: the page shows it unless a higher one is
    /// there already (then it is rendered when the page is written). A bulk
    /// add's READMEs are then rendered while its files are written and made
    /// durable, on the cores that wait for the disk.
    fn prepare(&self, writer: &Writer, added: &[Added<'_>]) {
        if !writer.settings.html {
            return;
        }
        let handle = pages::prepare(added);
        if let Ok(mut slot) = self.prepared.lock() {
            *slot = handle;
        }
    }

    fn before_index_writes(
        &self,
        writer: &Writer,
        names: &[&CrateName],
        durability: Durability,
    ) -> Result<()> {
        if !writer.settings.html {
            return Ok(());
        }
        pages::mark_pending(writer, names, durability)
    }

    /// Marks the whole catalogue pending before `reindex` writes index
    /// files; the rebuild after them clears it.
    fn before_rebuild_writes(&self, writer: &Writer) -> Result<()> {
        if !writer.settings.html {
            return Ok(());
        }
        pages::mark_all_pending(writer)
    }

    fn index_written(&self, writer: &Writer, changes: &[Change<'_>]) -> Result<()> {
        let prepared = self
            .prepared
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !writer.settings.html || changes.is_empty() {
            return Ok(());
        }
        let names: Vec<CrateName> = changes.iter().map(|c| c.name.clone()).collect();
        let clear = names.iter().map(ToString::to_string).collect();
        pages::update(writer, &names, changes, &prepared, clear)
    }

    fn rebuild(&self, writer: &Writer) -> Result<Derived> {
        if !writer.settings.html {
            return Ok(Derived::Unchanged);
        }
        Ok(Derived::Written {
            crates: pages::rebuild(writer)?,
        })
    }

    /// [`ChangeHook::rebuild`] from the index files `reindex` holds: a
    /// reindex that changed nothing reads no index file again and writes
    /// nothing.
    fn reindexed(&self, writer: &Writer, index: IndexSnapshot) -> Result<Derived> {
        if !writer.settings.html {
            return Ok(Derived::Unchanged);
        }
        Ok(Derived::Written {
            crates: pages::rebuild_from(writer, index)?,
        })
    }

    /// Writes the catalogue when it is turned on or what its pages say
    /// about the registry changed (URL, name, access: only the pages that
    /// differ are written); removes it when it is turned off; else finishes
    /// pending work.
    fn settings_changed(&self, writer: &Writer, old: &Settings) -> Result<Derived> {
        if writer.settings.html {
            if !old.html || pages::site_changed(writer)? {
                return Ok(Derived::Written {
                    crates: pages::rebuild(writer)?,
                });
            }
            pages::resume(writer)?;
            Ok(Derived::Unchanged)
        } else if old.html {
            remove_all(writer)?;
            Ok(Derived::Removed)
        } else {
            Ok(Derived::Unchanged)
        }
    }
}

#[cfg(feature = "html")]
/// A one-crate catalogue as regtool writes it, for tests and fuzzing: the
/// files a registry at `url` gets for a crate whose index file is
/// `index_file` (index lines, one per line) and whose shown version has the
/// metadata `meta_json` (`description`, `license`, `repository`,
/// `homepage`, `documentation`, `keywords`, `readme`, `readme_path`...).
#[derive(Debug, Clone)]
pub struct Sample {
    /// The crate's page (`catalogue/crates/{name}.html`).
    pub page: String,
    /// `index.html`.
    pub index: String,
    /// `catalogue/search-index.js`.
    pub search: String,
    /// `feed.atom`.
    pub feed: String,
}

#[cfg(feature = "html")]
/// Renders a [`Sample`]; `None` when `index_file` holds no index line or
/// `meta_json` is not metadata.
pub fn sample(index_file: &[u8], meta_json: &[u8], url: &str) -> Option<Sample> {
    let index = crate::index::IndexFile::parse(std::path::Path::new("sample"), index_file).ok()?;
    let meta: crate::meta::VersionMeta = serde_json::from_slice(meta_json).ok()?;
    let settings = Settings::new(url.to_string());
    let config = crate::config::RegistryConfig::for_base_url(url, false);
    let site = render::Site::new(&settings, &config);
    let pkg = render::shown_version(&index)?;
    let page = pages::Stored::new(&pkg.cksum, meta.clone(), None).page(&index, &site);
    let row = render::search_row(&pkg.name, &pkg.vers, meta.description.as_deref());
    let feed: Vec<pages::FeedEntry> = index
        .lines
        .iter()
        .map(|l| pages::FeedEntry {
            name: l.package.name.clone(),
            vers: l.package.vers.clone(),
            time: l
                .package
                .pubtime
                .clone()
                .unwrap_or_else(|| "2026-01-01T00:00:00Z".into()),
            description: meta.description.clone(),
        })
        .collect();
    Some(Sample {
        page,
        index: render::index_page(&site),
        search: render::search_index([row.as_str()]),
        feed: render::feed(&feed, &site, "2026-01-01T00:00:00Z"),
    })
}
