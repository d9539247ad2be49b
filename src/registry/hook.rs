//! The change hook: how a registry announces its changes to what is derived
//! from its index (the catalogue), without naming it. Floor 3 (`registry`).
//!
//! The registry calls its [`ChangeHook`] from the [`Writer`] only, at fixed
//! points of every change: [`ChangeHook::before_index_writes`] before the
//! index files of a change are written (the catalogue marks them pending, so
//! that a killed run is finished by the next one), [`ChangeHook::index_written`]
//! after them, [`ChangeHook::rebuild`] after changes it cannot describe crate
//! by crate (a new registry, `reindex`), and [`ChangeHook::settings_changed`]
//! after the settings changed. The opener (`crate::location`) installs the
//! hook when it opens a registry.
//!
//! Before a change writes anything, the writer asks
//! [`ChangeHook::can_follow`], which may refuse it.
//!
//! Every call goes through one place, [`Writer::announce`], which today hands
//! a hook's error on to the command (the index was written already; `reindex`
//! rebuilds what a failed hook left).

use super::Writer;
use crate::config::Settings;
use crate::error::Result;
use crate::index::IndexFile;
use crate::meta::VersionMeta;
use crate::name::CrateName;
use crate::storage::Durability;
use std::fmt::Debug;

/// What changed for one crate (read by the catalogue only: feature `html`).
#[derive(Debug)]
#[cfg_attr(not(feature = "html"), allow(dead_code))]
pub(crate) struct Change<'a> {
    /// The crate (as published).
    pub(crate) name: &'a CrateName,
    /// Its index file now (no lines: the crate is gone).
    pub(crate) index: &'a IndexFile,
    /// Versions whose line is new, with their metadata when it is at hand
    /// (else the hook reads the stored `.crate`).
    pub(crate) added: Vec<(String, Option<VersionMeta>)>,
    /// Versions whose line was removed.
    pub(crate) removed: Vec<String>,
}

/// What a hook did to the files it derives from the index, for the
/// command's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Derived {
    /// Nothing to do (the hook is off, or the change does not concern it).
    Unchanged,
    /// Written anew, for this many crates.
    Written {
        /// Crates the derived files cover.
        crates: usize,
    },
    /// Removed (turned off).
    Removed,
}

/// Told of every change a [`Writer`] makes; may write keys the registry does
/// not own ([`crate::layout::is_registry_key`] false) through the writer it is
/// given. Every method defaults to doing nothing.
pub(crate) trait ChangeHook: Send + Sync + Debug {
    /// Whether the hook can carry a change over to what it derives, once
    /// the registry's settings are `settings` (the writer's now, or the new
    /// ones of a settings change). The writer asks before it writes
    /// anything of a change to the index, the `.crate` files or the
    /// settings, so that a hook that cannot (the catalogue in a build
    /// without it) refuses the change whole instead of falling behind the
    /// index.
    ///
    /// # Errors
    /// What the hook refuses the change with; nothing was written then.
    fn can_follow(&self, writer: &Writer, settings: &Settings) -> Result<()> {
        let _ = (writer, settings);
        Ok(())
    }

    /// The index files of `names` are about to be written; what is written
    /// here is durable after the storage's next barrier when `durability` is
    /// [`Durability::Deferred`].
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object the hook could not write.
    fn before_index_writes(
        &self,
        writer: &Writer,
        names: &[&CrateName],
        durability: Durability,
    ) -> Result<()> {
        let _ = (writer, names, durability);
        Ok(())
    }

    /// The index files of `changes` were written (and are durable).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object; what reading the registry fails with.
    fn index_written(&self, writer: &Writer, changes: &[Change<'_>]) -> Result<()> {
        let _ = (writer, changes);
        Ok(())
    }

    /// The registry changed in ways not told crate by crate (created,
    /// reindexed): derive everything again.
    ///
    /// # Errors
    /// As [`ChangeHook::index_written`].
    fn rebuild(&self, writer: &Writer) -> Result<Derived> {
        let _ = writer;
        Ok(Derived::Unchanged)
    }

    /// The settings changed from `old` to the writer's.
    ///
    /// # Errors
    /// As [`ChangeHook::index_written`].
    fn settings_changed(&self, writer: &Writer, old: &Settings) -> Result<Derived> {
        let _ = (writer, old);
        Ok(Derived::Unchanged)
    }
}
