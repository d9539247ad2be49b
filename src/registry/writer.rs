//! The writer: the registry's exclusive lock made a value. Floor 3
//! (`registry`).
//!
//! [`Registry::writer`] takes the lock and returns a [`Writer`]; every method
//! that changes the registry exists only here, so holding one is the proof
//! that the lock is held (one exclusive writer per mutating command). A
//! writer is an owned value (`Send`, `'static`: a server can keep one in a
//! worker thread) that reads through [`Deref`] to its [`Registry`], and
//! releases the lock when dropped. Each mutating method first asks the
//! lock's guard whether it still holds ([`LockGuard::check`]): a lease that
//! ran out makes every later write fail instead of racing another writer.
//!
//! Every change is announced to the registry's [`ChangeHook`] through one
//! call site, [`Writer::announce`].

use super::hook::{Change, ChangeHook, Derived};
use super::{Registry, StoredCrate};
use crate::config::{RegistryConfig, Settings};
use crate::error::{Error, Result};
use crate::index::IndexFile;
use crate::layout::{self, CONFIG_KEY, SETTINGS_KEY, STATE_DIR};
use crate::meta::VersionMeta;
use crate::name::CrateName;
use crate::storage::{Durability, LockGuard, ObjectKind, Outcome, Precondition, Revision};
use std::ops::Deref;

/// How often a conditional write is retried after another writer changed the
/// object first (object storage without a lock).
const MAX_RETRIES: usize = 24;
/// Without a lock, a `.crate` no line names and whose bytes differ from the
/// ones being added is replaced only when it is older than this (a killed
/// run's orphan); younger, another `add` of that version may be under way.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// What [`Writer::publish`] puts in for one crate.
#[derive(Debug)]
pub(crate) struct Publication {
    /// The crate (its published name).
    pub(crate) name: CrateName,
    /// Its rank in the batch: 0 for crates that depend on no other crate of the
    /// batch, else one more than the highest rank of those they depend on.
    pub(crate) level: usize,
    /// The index file to write (already holding the new lines); `None` to leave
    /// it as it is (only `.crate` files to restore).
    pub(crate) index: Option<IndexFile>,
    /// The revision the index file had when read.
    pub(crate) revision: Option<Revision>,
    /// `.crate` files to store: version and finished staging file.
    pub(crate) crates: Vec<(String, tempfile::NamedTempFile)>,
    /// The versions whose line is new in `index`, with their metadata when it
    /// is at hand (else the hook reads the `.crate`).
    pub(crate) added: Vec<(String, Option<VersionMeta>)>,
}

/// A registry with its exclusive lock held: the only value with methods that
/// change the registry (see the module docs). Reads go through [`Deref`] to
/// the [`Registry`].
#[derive(Debug)]
pub(crate) struct Writer {
    reg: Registry,
    guard: Box<dyn LockGuard>,
}

// A writer can move into a worker thread and be shared by `rayon`'s.
const _: fn() = || {
    fn check<T: Send + Sync + 'static>() {}
    check::<Writer>();
};

impl Deref for Writer {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        &self.reg
    }
}

/// Waits before retry `attempt` (from 0) of a write that lost a race: about
/// 10 ms doubling up to about 1 s, with jitter so that racing writers spread out.
fn backoff(attempt: usize) {
    let base = 10u64 << attempt.min(7);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
        ^ u64::from(std::process::id()).wrapping_mul(0x9e37_79b9);
    std::thread::sleep(std::time::Duration::from_millis(base / 2 + nanos % base));
}

/// Whether two index lines are for the same version (build metadata aside).
fn same_version(a: &crate::index::IndexLine, b: &crate::index::IndexLine) -> bool {
    match (a.package.version(), b.package.version()) {
        (Ok(x), Ok(y)) => crate::index::version_key(&x) == crate::index::version_key(&y),
        _ => a.package.vers == b.package.vers,
    }
}

impl Writer {
    pub(super) fn new(reg: Registry, guard: Box<dyn LockGuard>) -> Writer {
        Writer { reg, guard }
    }

    /// The registry, for reads (the same as through [`Deref`]).
    pub(crate) fn registry(&self) -> &Registry {
        &self.reg
    }

    /// Fails once the lock is lost (see [`LockGuard::check`]): called first
    /// by every method that writes.
    pub(super) fn check(&self) -> Result<()> {
        self.guard.check()
    }

    /// Fails once the lock is lost, or when the hook cannot follow a change
    /// made under `settings` ([`ChangeHook::can_follow`]): called first by
    /// every method that changes the index, the `.crate` files or the
    /// settings, so that a refusal comes before anything is written.
    fn check_change(&self, settings: &Settings) -> Result<()> {
        self.check()?;
        self.announce(|h| h.can_follow(self, settings))
    }

    /// Whether this writer may change the index and the `.crate` files as
    /// the registry's settings stand: the refusal every changing method
    /// makes first, asked up front by the commands, so that a `--dry-run`
    /// refuses as the real run would, and before any slow work.
    ///
    /// # Errors
    /// What the hook refuses with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]); [`LockGuard::check`]'s error once the lock
    /// is lost.
    pub(crate) fn can_change(&self) -> Result<()> {
        self.check_change(&self.reg.settings)
    }

    /// Hands a change to the registry's hook: the one place every hook call
    /// goes through. Today a hook's error is the command's error (the index
    /// was written already); changing that is a change here only.
    fn announce<T>(&self, tell: impl FnOnce(&dyn ChangeHook) -> Result<T>) -> Result<T> {
        tell(self.reg.hook.as_ref())
    }

    /// Writes the settings, then `config.json`, both create-only: the last
    /// steps of [`Registry::create`], which then has the hook derive its files.
    pub(super) fn create_files(&self) -> Result<()> {
        self.check_change(&self.reg.settings)?;
        for (key, bytes, kind) in [
            (
                SETTINGS_KEY,
                self.reg.settings.to_bytes(),
                ObjectKind::State,
            ),
            (CONFIG_KEY, self.reg.config.to_bytes(), ObjectKind::Config),
        ] {
            let pre = Precondition::Absent;
            if self
                .reg
                .store
                .put(key, &bytes, kind, &pre, Durability::Now)?
                == Outcome::Conflict
            {
                return Err(self.reg.conflict(key));
            }
        }
        self.announce(|h| h.rebuild(self)).map(|_| ())
    }

    /// Replaces the settings and `config.json` with `settings` and `config`
    /// (only the files that change, settings first), then tells the hook,
    /// whose answer comes back (the catalogue is written or removed when its
    /// setting or the URL changed).
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file that cannot be written; what the hook
    /// fails with.
    pub(crate) fn update_settings(
        &mut self,
        settings: Settings,
        config: RegistryConfig,
    ) -> Result<Derived> {
        self.check_change(&settings)?;
        let old = self.reg.settings.clone();
        let put = |key: &str, bytes: &[u8], kind| {
            let _ = self
                .reg
                .store
                .put(key, bytes, kind, &Precondition::Any, Durability::Now)?;
            Ok::<_, Error>(())
        };
        if settings != self.reg.settings {
            put(SETTINGS_KEY, &settings.to_bytes(), ObjectKind::State)?;
            self.reg.settings = settings;
        }
        if config != self.reg.config {
            put(CONFIG_KEY, &config.to_bytes(), ObjectKind::Config)?;
            self.reg.config = config;
        }
        self.announce(|h| h.settings_changed(self, &old))
    }

    /// Has the hook derive everything again from the index as it is (after
    /// `reindex`, which writes index files with [`Writer::write_index`]
    /// without telling the hook crate by crate).
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// What the hook fails with.
    pub(crate) fn rebuild_derived(&self) -> Result<Derived> {
        self.check_change(&self.reg.settings)?;
        self.announce(|h| h.rebuild(self))
    }

    /// Writes `bytes` at `key`, a key the registry does not own (a hook's:
    /// the catalogue's pages and state), if `pre` holds. Only the catalogue
    /// writes (feature `html`).
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    pub(crate) fn put_object(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        self.check()?;
        debug_assert!(!layout::is_registry_key(key), "{key} is the registry's");
        self.reg.store.put(key, bytes, kind, pre, durability)
    }

    /// Deletes the object at `key`, a key the registry does not own (see
    /// [`Writer::put_object`]), if `pre` holds.
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    pub(crate) fn delete_object(&self, key: &str, pre: &Precondition) -> Result<Outcome> {
        self.check()?;
        debug_assert!(!layout::is_registry_key(key), "{key} is the registry's");
        self.reg.store.delete(key, pre)
    }

    /// Makes every [`Durability::Deferred`] write so far durable (for the
    /// catalogue's writes: feature `html`).
    ///
    /// # Errors
    /// [`Error::Io`].
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    pub(crate) fn barrier(&self) -> Result<()> {
        self.reg.store.barrier()
    }

    /// Writes the secret `bytes` at `key` (under `.regtool/`) atomically and
    /// durably, as [`ObjectKind::Secret`] (mode 0600 in a folder), if the object
    /// is still as [`Registry::read_state`] saw it (`read`: its revision, `None`
    /// when it was absent).
    ///
    /// # Errors
    /// [`Error::Conflict`] naming the file if another writer changed it since;
    /// [`Error::Io`] naming the file.
    pub(crate) fn put_secret(&self, key: &str, bytes: &[u8], read: Option<Revision>) -> Result<()> {
        self.check()?;
        debug_assert!(key.starts_with(&format!("{STATE_DIR}/")));
        match self.reg.store.put(
            key,
            bytes,
            ObjectKind::Secret,
            &Precondition::from_read(read),
            Durability::Now,
        )? {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(self.reg.conflict(key)),
        }
    }

    /// Reads `name`'s index file, changes it with `change` and writes it back
    /// (removing it when no line is left), as one compare-and-swap: if another
    /// writer changed it meanwhile, it is read again and `change` runs again.
    /// `change` gets the crate as stored (resolved from any spelling) and returns
    /// `Ok(None)` to leave the file alone. The hook hears of the change before
    /// and after the write.
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::NotFound`] when there is no such crate; what `change` returns;
    /// [`Error::Io`], [`Error::IndexFile`]; [`Error::Conflict`] after too many retries.
    pub(crate) fn modify_crate<T>(
        &self,
        name: &CrateName,
        not_found: impl Fn() -> Error,
        mut change: impl FnMut(&mut StoredCrate) -> Result<Option<T>>,
    ) -> Result<Option<(CrateName, T)>> {
        self.check_change(&self.reg.settings)?;
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                backoff(attempt - 1);
            }
            let Some(mut stored) = self.find_crate(name)? else {
                return Err(not_found());
            };
            let before: Vec<String> = stored
                .index
                .lines
                .iter()
                .map(|l| l.package.vers.clone())
                .collect();
            let Some(out) = change(&mut stored)? else {
                return Ok(None);
            };
            let pre = Precondition::from_read(stored.revision.clone());
            self.announce(|h| h.before_index_writes(self, &[&stored.name], Durability::Now))?;
            if self.write_index(&stored.name, &stored.index, &pre, Durability::Now)?
                == Outcome::Done
            {
                let has = |v: &String| stored.index.lines.iter().any(|l| l.package.vers == *v);
                let change = Change {
                    name: &stored.name,
                    index: &stored.index,
                    added: stored
                        .index
                        .lines
                        .iter()
                        .filter(|l| !before.contains(&l.package.vers))
                        .map(|l| (l.package.vers.clone(), None))
                        .collect(),
                    removed: before.iter().filter(|v| !has(v)).cloned().collect(),
                };
                self.announce(|h| h.index_written(self, &[change]))?;
                return Ok(Some((stored.name, out)));
            }
        }
        Err(self.reg.conflict(&layout::index_key(name)))
    }

    /// Writes `name`'s index file if `pre` holds, or deletes it when `file` has no
    /// lines.
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file.
    pub(crate) fn write_index(
        &self,
        name: &CrateName,
        file: &IndexFile,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        self.check_change(&self.reg.settings)?;
        let key = layout::index_key(name);
        if file.lines.is_empty() {
            self.reg.store.delete(&key, pre)
        } else {
            self.store
                .put(&key, &file.to_bytes(), ObjectKind::Index, pre, durability)
        }
    }

    /// Publishes a batch (see the module docs for the order): every `.crate`
    /// first, made durable; then the index files one level at a time, each
    /// level durable before the next. `durability` [`Durability::Deferred`]
    /// makes each step durable with one barrier instead of a sync per file.
    /// Calls `on_published` for each crate whose index file is written.
    /// Returns the key of every object written, in the order written
    /// (`.crate` files, then index files level by level).
    ///
    /// Storage without a lock ([`crate::storage::Storage::locks`] false: object storage) gets
    /// conditional writes instead: a `.crate` is created only where there is
    /// none (an object already there with the same bytes counts as written; one
    /// with other bytes is replaced only when it is a repair or an orphan older
    /// than [`ORPHAN_AGE`]); an index file that another writer changed since it
    /// was read is read again and this batch's versions are put into it again,
    /// with bounded retries and backoff.
    ///
    /// The hook hears of the index files before they are written
    /// ([`ChangeHook::before_index_writes`]) and after
    /// ([`ChangeHook::index_written`]).
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file; [`Error::Conflict`] when an index file was
    /// changed by another writer since it was read (storage with a lock) or kept
    /// changing, or when another writer holds other bytes for a version of the
    /// batch. An error of the hook after the writes comes after the index
    /// was written (`reindex` rebuilds what the hook derives).
    pub(crate) fn publish(
        &self,
        batch: Vec<Publication>,
        durability: Durability,
        mut on_published: impl FnMut(&CrateName),
    ) -> Result<Vec<String>> {
        use rayon::prelude::*;
        self.check_change(&self.reg.settings)?;
        let mut written = Vec::new();
        let mut indexes = Vec::new();
        let mut added = std::collections::HashMap::new();
        // Under the lock, the `.crate` files go in on every core: no line
        // names them yet, so their order does not matter (the barrier below
        // orders them before every index line).
        let mut placed = Vec::new();
        for p in batch {
            added.insert(p.name.canonical(), p.added);
            let versions: Vec<String> = p.crates.iter().map(|(v, _)| v.clone()).collect();
            for (vers, file) in p.crates {
                let key = layout::crate_key(&p.name, &vers);
                if self.reg.store.locks() {
                    placed.push((key.clone(), file));
                } else {
                    self.create_crate(&p.name, &vers, &key, &file)?;
                }
                written.push(key);
            }
            if let Some(index) = p.index {
                indexes.push((p.level, p.name, index, p.revision, versions));
            }
        }
        placed
            .into_par_iter()
            .with_max_len(1)
            .try_for_each(|(key, file)| {
                // Under the lock no line names this key yet (or it is a
                // repair): whatever is there is an orphan a killed run
                // left, and is replaced.
                let done = self.reg.store.put_file(
                    &key,
                    file,
                    ObjectKind::Crate,
                    &Precondition::Any,
                    durability,
                )?;
                debug_assert_eq!(done, Outcome::Done);
                Ok::<(), Error>(())
            })?;
        let names: Vec<&CrateName> = indexes.iter().map(|w| &w.1).collect();
        self.announce(|h| h.before_index_writes(self, &names, durability))?;
        self.reg.store.barrier()?;
        let max_level = indexes.iter().map(|w| w.0).max().unwrap_or(0);
        for level in 0..=max_level {
            let this_level: Vec<_> = indexes.iter().filter(|w| w.0 == level).collect();
            this_level
                .par_iter()
                .try_for_each(|(_, name, index, rev, versions)| {
                    self.write_batch_index(name, index, rev.clone(), versions, durability)
                })?;
            self.reg.store.barrier()?;
            for (_, name, _, _, _) in this_level {
                written.push(layout::index_key(name));
                on_published(name);
            }
        }
        let changes: Vec<Change<'_>> = indexes
            .iter()
            .map(|(_, name, index, _, _)| Change {
                name,
                index,
                added: added.remove(&name.canonical()).unwrap_or_default(),
                removed: Vec::new(),
            })
            .collect();
        self.announce(|h| h.index_written(self, &changes))?;
        Ok(written)
    }

    /// Writes the index file of a batch (see [`Writer::publish`]): on a
    /// conflict, without a lock, re-reads it and puts the lines of `versions`
    /// (the versions whose `.crate` the batch stored) into the fresh file.
    fn write_batch_index(
        &self,
        name: &CrateName,
        index: &IndexFile,
        mut rev: Option<Revision>,
        versions: &[String],
        durability: Durability,
    ) -> Result<()> {
        let ours: Vec<_> = index
            .lines
            .iter()
            .filter(|l| versions.contains(&l.package.vers))
            .cloned()
            .collect();
        let mut file = index.clone();
        for attempt in 0..MAX_RETRIES {
            let pre = Precondition::from_read(rev.clone());
            if self.write_index(name, &file, &pre, durability)? == Outcome::Done {
                return Ok(());
            }
            if self.reg.store.locks() || ours.is_empty() {
                break;
            }
            backoff(attempt);
            let (mut fresh, fresh_rev) = match self.find_crate(name)? {
                Some(s) if s.name == *name => (s.index, s.revision),
                Some(_) => break, // another spelling appeared meanwhile
                None => (IndexFile::default(), None),
            };
            for line in &ours {
                match fresh.lines.iter().find(|l| same_version(l, line)) {
                    None => fresh.lines.push(line.clone()),
                    Some(l) if l.package.cksum == line.package.cksum => {}
                    // Another writer published this version with other bytes.
                    Some(_) => return Err(self.reg.conflict(&layout::index_key(name))),
                }
            }
            file = fresh;
            rev = fresh_rev;
        }
        Err(self.reg.conflict(&layout::index_key(name)))
    }

    /// Stores a `.crate` without a lock (see [`Writer::publish`]).
    fn create_crate(
        &self,
        name: &CrateName,
        vers: &str,
        key: &str,
        file: &tempfile::NamedTempFile,
    ) -> Result<()> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut file
                .reopen()
                .map_err(|e| Error::io("read", file.path(), e))?,
            &mut bytes,
        )
        .map_err(|e| Error::io("read", file.path(), e))?;
        let ours = crate::crate_file::sha256(bytes.as_slice())
            .map_err(|e| Error::io("read", file.path(), e))?;
        let mut pre = Precondition::Absent;
        for attempt in 0..MAX_RETRIES {
            let put = self
                .store
                .put(key, &bytes, ObjectKind::Crate, &pre, Durability::Now)?;
            if put == Outcome::Done {
                return Ok(());
            }
            backoff(attempt);
            let Some(existing) = self.reg.store.get(key)? else {
                pre = Precondition::Absent; // deleted meanwhile
                continue;
            };
            let theirs = crate::crate_file::sha256(existing.bytes.as_slice())
                .map_err(|e| Error::io("read", self.reg.store.locate(key), e))?;
            if theirs == ours {
                return Ok(()); // the same bytes: a killed run's orphan, or a twin add
            }
            let line_cksum = self.find_crate(name)?.and_then(|s| {
                s.index
                    .lines
                    .iter()
                    .find(|l| l.package.vers == vers)
                    .map(|l| l.package.cksum.clone())
            });
            let old_orphan = || -> Result<bool> {
                Ok(self
                    .store
                    .stat(key)?
                    .and_then(|m| m.modified)
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > ORPHAN_AGE))
            };
            let replace = match line_cksum {
                Some(c) => c == ours, // a repair of a damaged copy
                None => old_orphan()?,
            };
            if !replace {
                return Err(self.reg.conflict(key));
            }
            pre = Precondition::Unchanged(existing.revision);
        }
        Err(self.reg.conflict(key))
    }

    /// Deletes the `.crate` at `key` (and its folder once empty).
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file.
    pub(crate) fn delete_crate(&self, key: &str) -> Result<()> {
        self.check_change(&self.reg.settings)?;
        let _ = self.reg.store.delete(key, &Precondition::Any)?;
        Ok(())
    }

    /// Moves a stored `.crate` from `from` to `to`.
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file.
    pub(crate) fn move_crate(&self, from: &str, to: &str) -> Result<()> {
        self.check_change(&self.reg.settings)?;
        self.reg.store.rename(from, to, ObjectKind::Crate)
    }

    /// Makes a `.crate` put there by hand fit to serve (mode 0644).
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file.
    pub(crate) fn fix_crate(&self, key: &str) -> Result<()> {
        self.check_change(&self.reg.settings)?;
        self.reg.store.fix_published(key, ObjectKind::Crate)
    }

    /// Deletes temp files a killed regtool left behind: beside published files
    /// (only while holding the exclusive lock) and, in any case, staging files
    /// older than `max_age`. Returns how many were removed.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn clean_temp(
        &self,
        max_age: std::time::Duration,
        beside_published: bool,
    ) -> Result<usize> {
        self.check()?;
        self.reg.store.clean_temp(max_age, beside_published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::local::LocalStorage;
    use crate::storage::{LockEvents, Storage};
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    /// Records what the registry announces.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ChangeHook for Recorder {
        fn before_index_writes(
            &self,
            _: &Writer,
            names: &[&CrateName],
            _: Durability,
        ) -> Result<()> {
            let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
            self.0.lock().unwrap().push(format!("before {names:?}"));
            Ok(())
        }

        fn index_written(&self, _: &Writer, changes: &[Change<'_>]) -> Result<()> {
            for c in changes {
                let added: Vec<&str> = c.added.iter().map(|(v, _)| v.as_str()).collect();
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("written {} +{added:?} -{:?}", c.name, c.removed));
            }
            Ok(())
        }

        fn rebuild(&self, _: &Writer) -> Result<Derived> {
            self.0.lock().unwrap().push("rebuild".into());
            Ok(Derived::Unchanged)
        }

        fn settings_changed(&self, w: &Writer, old: &Settings) -> Result<Derived> {
            let change = format!("settings {} -> {}", old.url, w.settings.url);
            self.0.lock().unwrap().push(change);
            Ok(Derived::Unchanged)
        }
    }

    struct Quiet;
    impl LockEvents for Quiet {
        fn waiting(&self, _: &Path) {}
        fn unsupported(&self, _: &Path, _: &std::io::Error) {}
    }

    /// A lease that ran out: every check fails.
    #[derive(Debug)]
    struct Lost;
    impl LockGuard for Lost {
        fn check(&self) -> Result<()> {
            Err(Error::Conflict {
                path: "the lease".into(),
            })
        }
    }

    fn create(dir: &Path, hook: Arc<Recorder>) -> Writer {
        let store: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir));
        let settings = Settings::new("https://crates.example.com".into());
        let config = RegistryConfig::for_base_url(&settings.url, false);
        Registry::create(store, hook, config, settings, &Quiet).unwrap()
    }

    fn line(vers: &str) -> IndexFile {
        let text = format!(
            r#"{{"name":"Foo","vers":"{vers}","deps":[],"cksum":"{}","features":{{}},"yanked":false}}"#,
            "0".repeat(64)
        );
        IndexFile::parse(Path::new("foo"), format!("{text}\n").as_bytes()).unwrap()
    }

    fn publication(w: &Writer, vers: &str) -> Publication {
        Publication {
            name: CrateName::new("Foo").unwrap(),
            level: 0,
            index: Some(line(vers)),
            revision: None,
            crates: vec![(vers.to_string(), w.staging_file().unwrap())],
            added: vec![(vers.to_string(), None)],
        }
    }

    #[test]
    fn every_change_is_announced_to_the_hook() {
        let tmp = tempfile::tempdir().unwrap();
        let hook = Arc::new(Recorder::default());
        let mut w = create(tmp.path(), hook.clone());
        w.publish(vec![publication(&w, "1.0.0")], Durability::Now, |_| {})
            .unwrap();
        let foo = CrateName::new("foo").unwrap();
        w.modify_crate(
            &foo,
            || unreachable!("published"),
            |s| {
                s.index.lines.clear();
                Ok(Some(()))
            },
        )
        .unwrap();
        let mut settings = w.settings.clone();
        settings.url = "https://new.example.com".into();
        let config = w.config.clone();
        w.update_settings(settings, config).unwrap();
        assert_eq!(
            *hook.0.lock().unwrap(),
            [
                "rebuild",
                r#"before ["Foo"]"#,
                r#"written Foo +["1.0.0"] -[]"#,
                r#"before ["Foo"]"#,
                r#"written Foo +[] -["1.0.0"]"#,
                "settings https://crates.example.com -> https://new.example.com",
            ]
        );
    }

    #[test]
    fn a_lost_lock_refuses_every_write() {
        let tmp = tempfile::tempdir().unwrap();
        let hook = Arc::new(Recorder::default());
        let reg = create(tmp.path(), hook.clone()).registry().clone();
        let mut w = Writer::new(reg, Box::new(Lost));
        let lost = |r: Result<_>| matches!(r, Err(Error::Conflict { path }) if path == Path::new("the lease"));
        assert!(lost(
            w.publish(vec![publication(&w, "1.0.0")], Durability::Now, |_| {})
                .map(|_| ())
        ));
        let foo = CrateName::new("foo").unwrap();
        assert!(lost(
            w.modify_crate(&foo, || unreachable!(), |_| Ok(Some(())))
                .map(|_| ())
        ));
        assert!(lost(w.put_secret(layout::TOKEN_FILE_KEY, b"x", None)));
        assert!(lost(w.delete_crate("crates/Foo/Foo-1.0.0.crate")));
        assert!(lost(
            w.clean_temp(std::time::Duration::ZERO, true).map(|_| ())
        ));
        assert!(lost(w.rebuild_derived().map(|_| ())));
        let (settings, config) = (w.settings.clone(), w.config.clone());
        assert!(lost(w.update_settings(settings, config).map(|_| ())));
        // Nothing was written, and the hook heard of nothing after `create`.
        assert!(w.find_crate(&foo).unwrap().is_none());
        assert!(w.read_state(layout::TOKEN_FILE_KEY).unwrap().is_none());
        assert_eq!(*hook.0.lock().unwrap(), ["rebuild"]);
    }
}
