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
//! - [`INDEX_KEY`] `index.html`: a search box over every crate;
//! - [`SEARCH_KEY`](pages::SEARCH_KEY) `catalogue/search-index.js`: the search data (a script, so
//!   that the page works from `file://` too), [`SCRIPT_KEY`](pages::SCRIPT_KEY), [`STYLE_KEY`](pages::STYLE_KEY);
//! - `catalogue/crates/{name}.html`: one page per crate;
//! - [`FEED_KEY`] `feed.atom`: the newest [`FEED_LEN`](pages::FEED_LEN) versions (RFC 4287);
//! - [`STATE_KEY`] `.regtool/catalogue.json`: with the search data, the
//!   compact state every change updates (name, latest version, description
//!   per crate in the search data; the feed here), so that a change reads
//!   neither every index file nor every `.crate`;
//! - `.regtool/meta/{name}/{version}.json`: each version's [`VersionMeta`](crate::meta::VersionMeta)
//!   (description, license, README...), stored when the version is added.
//!
//! A change (`Writer::publish`, `Writer::modify_crate`) is told to the hook,
//! which marks the crates pending ([`mark_pending`](pages::mark_pending)) before their index files
//! are written and then calls [`update`](pages::update), which rewrites only the changed
//! crates' pages, the search data and the feed. A new registry, `reindex` and
//! turning the catalogue on call [`rebuild`](pages::rebuild); turning it off, [`remove_all`].
//!
//! Writing it needs the `html` Cargo feature (pulldown-cmark, ammonia; on by
//! default), whose code is [`pages`] and [`render`]. A build without it keeps
//! the keys and [`remove_all`], and its hook refuses, before anything is
//! written ([`ChangeHook::can_follow`]), every change to a registry whose
//! catalogue is on, and turning it on: a catalogue is never left behind its
//! index. Turning it off works in every build.

#[cfg(feature = "html")]
mod pages;
#[cfg(feature = "html")]
pub(crate) mod render;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::layout;
use crate::name::CrateName;
use crate::registry::{Change, ChangeHook, Derived, Registry, Writer};
use crate::storage::{Durability, Precondition};

/// Key of the catalogue's start page.
pub(crate) const INDEX_KEY: &str = "index.html";
/// Key of the Atom feed of new versions.
pub(crate) const FEED_KEY: &str = "feed.atom";
/// Folder of the catalogue's other files.
pub(crate) const DIR: &str = "catalogue";
/// Key of the catalogue's state.
pub(crate) const STATE_KEY: &str = ".regtool/catalogue.json";
/// Folder of the markers of crates whose catalogue update is under way: one
/// is written (durably) before a crate's index file, and deleted once its
/// page is written, so that the next change finishes what a killed run left.
pub(crate) const PENDING_DIR: &str = ".regtool/catalogue-pending";
/// What every page regtool writes holds: an `index.html` or `feed.atom`
/// without it is someone else's and is never overwritten or deleted.
pub const HTML_MARK: &str = "<meta name=\"generator\" content=\"regtool\">";
/// The feed's mark (see [`HTML_MARK`]).
pub const FEED_MARK: &str = "<generator>regtool</generator>";

/// Whether the object at `key` is regtool's to write: absent, or holding
/// `mark`.
pub(crate) fn ours(reg: &Registry, key: &str, mark: &str) -> Result<bool> {
    Ok(reg
        .get_object(key)?
        .is_none_or(|o| std::str::from_utf8(&o.bytes).is_ok_and(|t| t.contains(mark))))
}

/// Deletes the catalogue's served files and its state (turning it off); the
/// stored metadata under `.regtool/meta/` stays (it is never served), and so do
/// an `index.html` or `feed.atom` regtool did not write.
///
/// # Errors
/// [`crate::Error::Io`] naming the file.
fn remove_all(reg: &Writer) -> Result<()> {
    let mut keys = reg.list_keys(DIR)?;
    keys.extend(reg.list_keys(PENDING_DIR)?);
    keys.push(STATE_KEY.into());
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
/// [`ChangeHook::can_follow`] has given before anything was written.
#[cfg(not(feature = "html"))]
mod pages {
    use crate::error::Result;
    use crate::name::CrateName;
    use crate::registry::{Change, Writer};
    use crate::storage::Durability;

    fn refuse_if_on(reg: &Writer) -> Result<()> {
        if reg.settings.html {
            return Err(super::missing(reg, false));
        }
        Ok(())
    }

    pub(super) fn mark_pending<'a>(
        reg: &Writer,
        _names: impl IntoIterator<Item = &'a CrateName>,
        _durability: Durability,
    ) -> Result<()> {
        refuse_if_on(reg)
    }

    pub(super) fn update(reg: &Writer, _changes: &[Change<'_>]) -> Result<()> {
        refuse_if_on(reg)
    }

    pub(super) fn rebuild(reg: &Writer) -> Result<usize> {
        refuse_if_on(reg).map(|()| 0)
    }
}

/// The catalogue as the registry's [`ChangeHook`]: every change of the index
/// is carried over to the pages (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Catalogue;

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

    fn before_index_writes(
        &self,
        writer: &Writer,
        names: &[&CrateName],
        durability: Durability,
    ) -> Result<()> {
        pages::mark_pending(writer, names.iter().copied(), durability)
    }

    fn index_written(&self, writer: &Writer, changes: &[Change<'_>]) -> Result<()> {
        pages::update(writer, changes)
    }

    fn rebuild(&self, writer: &Writer) -> Result<Derived> {
        if !writer.settings.html {
            return Ok(Derived::Unchanged);
        }
        Ok(Derived::Written {
            crates: pages::rebuild(writer)?,
        })
    }

    /// Writes the catalogue whole when it is turned on or the URL it links
    /// to changed; removes it when it is turned off.
    fn settings_changed(&self, writer: &Writer, old: &Settings) -> Result<Derived> {
        let new = &writer.settings;
        if new.html && (!old.html || new.url != old.url) {
            Ok(Derived::Written {
                crates: pages::rebuild(writer)?,
            })
        } else if !new.html && old.html {
            remove_all(writer)?;
            Ok(Derived::Removed)
        } else {
            Ok(Derived::Unchanged)
        }
    }
}
