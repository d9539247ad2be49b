//! The change hook: how a registry announces its changes to what is derived
//! from its index (the catalogue), without naming it. Floor 3 (`registry`).
//!
//! The registry calls its [`ChangeHook`] from the [`Writer`] only, at fixed
//! points of every change: [`ChangeHook::resume`] before the first change a
//! writer makes (to finish what a failed or killed run left),
//! [`ChangeHook::prepare`] before a change writes anything (work that does
//! not need the index, started early),
//! [`ChangeHook::before_index_writes`] before the index files of a change are
//! written (the catalogue records the work as pending, so that a killed run
//! is finished by the next one), [`ChangeHook::index_written`] after them,
//! [`ChangeHook::rebuild`] after changes it cannot describe crate by crate (a
//! new registry, `reindex`, whose index writes come after
//! [`ChangeHook::before_rebuild_writes`], the marker of that work), and [`ChangeHook::settings_changed`] after the
//! settings changed. The opener (`crate::location`) installs the hook when it
//! opens a registry.
//!
//! Before a change writes anything, the writer asks
//! [`ChangeHook::can_follow`], which may refuse it: that refusal is the
//! command's error, and nothing was written.
//!
//! What a hook derives never holds back the index, which is the truth: the
//! writer turns a hook's error into one warning on stderr (naming the hook,
//! [`ChangeHook::describe`], and the file), never the command's error, and
//! the hook's pending work is finished later. Every call goes through one
//! place, [`Writer::derive`].

use super::Writer;
use crate::config::Settings;
use crate::error::Result;
use crate::index::IndexFile;
use crate::meta::VersionMeta;
use crate::name::CrateName;
use crate::storage::Durability;
use std::fmt::Debug;

/// What changed for one crate. The hook reads the index file itself, after
/// the write: another writer may have changed it since this one read it (on
/// object storage, each write is safe on its own key only), and what is
/// derived must show the index as it is. (Read by the catalogue only:
/// feature `html`.)
#[derive(Debug)]
#[cfg_attr(not(feature = "html"), allow(dead_code))]
pub(crate) struct Change<'a> {
    /// The crate (as published).
    pub(crate) name: &'a CrateName,
    /// Versions whose line is new, with their metadata when it is at hand
    /// (else the hook reads the stored `.crate`).
    pub(crate) added: Vec<(String, Option<VersionMeta>)>,
}

/// Every index file of a registry as a command that read (and wrote) them
/// all under the writer's lock holds them now (`reindex`): `(key, file)`,
/// sorted by key, so that a hook derives from them without reading any
/// index file again ([`ChangeHook::reindexed`]).
pub(crate) type IndexSnapshot = Vec<(String, IndexFile)>;

/// A crate and the versions a change adds to it, with their metadata when
/// it is at hand (see [`ChangeHook::prepare`]).
pub(crate) type Added<'a> = (&'a CrateName, &'a [(String, Option<VersionMeta>)]);

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
    /// Not written: the hook failed (a warning said why); its pending work
    /// is finished by the next change or `regtool reindex`.
    Pending,
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

    /// What the hook derives, for warnings (`"the catalogue"`).
    fn describe(&self) -> &'static str {
        "what is derived from the index"
    }

    /// A writer is about to make its first change: finish what a failed or
    /// killed run left.
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object; what reading the registry fails with.
    fn resume(&self, writer: &Writer) -> Result<()> {
        let _ = writer;
        Ok(())
    }

    /// A change is about to be made: each crate with the versions it adds
    /// and their metadata, when at hand. Called before anything of the
    /// change is written; the hook may start work that does not depend on
    /// the index files (the catalogue renders READMEs beside the writes).
    /// Cannot fail the change.
    fn prepare(&self, writer: &Writer, added: &[Added<'_>]) {
        let _ = (writer, added);
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

    /// Index files are about to be written that are not told crate by
    /// crate (`reindex`, which then calls [`ChangeHook::reindexed`]): record,
    /// durably before the first of them, that everything derived is to be
    /// derived again, so that a run killed in between leaves that work to
    /// the next change ([`ChangeHook::resume`]).
    ///
    /// # Errors
    /// [`crate::Error::Io`] naming the object the hook could not write.
    fn before_rebuild_writes(&self, writer: &Writer) -> Result<()> {
        let _ = writer;
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

    /// The registry was reindexed and its index files are `index` (every
    /// one, as it is now: see [`IndexSnapshot`]): derive everything again
    /// from them, reading no index file. Defaults to
    /// [`ChangeHook::rebuild`].
    ///
    /// # Errors
    /// As [`ChangeHook::index_written`].
    fn reindexed(&self, writer: &Writer, index: IndexSnapshot) -> Result<Derived> {
        let _ = index;
        self.rebuild(writer)
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
