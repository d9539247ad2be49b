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
//! Every change is told to the registry's [`ChangeHook`] through one call
//! site, [`Writer::derive`], where a hook's failure becomes a warning: what
//! a hook derives (the catalogue) never fails or holds back a change of the
//! index, which is the truth.

use super::hook::{Added, Change, ChangeHook, Derived, IndexSnapshot};
use super::{Registry, StoredCrate};
use crate::config::{RegistryConfig, Settings};
use crate::error::CrateProblem;
use crate::error::{Error, Result};
use crate::index::IndexFile;
use crate::layout::{self, CONFIG_KEY, SETTINGS_KEY, STATE_DIR};
use crate::meta::VersionMeta;
use crate::name::CrateName;
use crate::storage::{
    Durability, LockGuard, ObjectKind, Outcome, Precondition, Revision, Staged, Storage,
};
use std::collections::HashSet;
use std::ops::Deref;
use std::sync::Mutex;

/// How often a conditional write is retried after another writer changed the
/// object first (object storage, where a paused lease holder may write late).
const MAX_RETRIES: usize = 24;

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
    /// The hook has finished what a failed run left ([`Writer::begin`]).
    resumed: std::sync::atomic::AtomicBool,
    /// Canonical names whose spelling this writer has claimed (object
    /// storage: see [`Writer::claim`]).
    claimed: Mutex<HashSet<String>>,
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
        Writer {
            reg,
            guard,
            resumed: std::sync::atomic::AtomicBool::new(false),
            claimed: Mutex::default(),
        }
    }

    /// The storage, for one write: fails once the lock is lost, so that every
    /// write (not only every method) is checked ([`LockGuard::check`]).
    fn store(&self) -> Result<&dyn Storage> {
        self.check()?;
        Ok(self.reg.store.as_ref())
    }

    /// Claims `name`'s spelling for its crate before any index file of it
    /// is created (object storage; a folder's lock needs no claims):
    /// `.regtool/names/{canonical}` is created holding `name`, create-only.
    /// A claim that is there already must hold `name`. So two writers (one
    /// of them paused past its lease) can never create two spellings of one
    /// crate. Claims stay when every version is removed (`reindex` drops
    /// those with no index file and no `.crate` left).
    ///
    /// # Errors
    /// [`Error::Crate`] with [`CrateProblem::NameConflict`] when another
    /// spelling is claimed; [`Error::Io`]; [`Error::Config`] for a broken claim.
    pub(crate) fn claim(&self, name: &CrateName) -> Result<()> {
        if self.reg.store.locks() {
            return Ok(());
        }
        let canonical = name.canonical();
        if self
            .claimed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&canonical)
        {
            return Ok(());
        }
        let key = layout::name_claim_key(name);
        let bytes = format!("{name}\n");
        for _ in 0..MAX_RETRIES {
            let put = self.store()?.put(
                &key,
                bytes.as_bytes(),
                ObjectKind::State,
                &Precondition::Absent,
                Durability::Now,
            )?;
            let held = match put {
                Outcome::Done => name.clone(),
                Outcome::Conflict => match self.reg.store.get(&key)? {
                    Some(o) => super::parse_claim(&self.reg.store.locate(&key), &o.bytes)?,
                    None => continue, // removed meanwhile (`reindex`): again
                },
            };
            if held != *name {
                return Err(Error::krate(
                    self.reg.store.locate(&layout::index_key(name)),
                    CrateProblem::NameConflict {
                        name: name.to_string(),
                        existing: held.to_string(),
                    },
                ));
            }
            self.claimed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(canonical);
            return Ok(());
        }
        Err(self.reg.conflict(&key))
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

    /// Asks the registry's hook whether it can follow a change
    /// ([`ChangeHook::can_follow`]): the one hook call whose error is the
    /// command's, since nothing was written yet.
    fn announce<T>(&self, tell: impl FnOnce(&dyn ChangeHook) -> Result<T>) -> Result<T> {
        tell(self.reg.hook.as_ref())
    }

    /// [`Writer::check_change`]; then, the first time, has the hook finish
    /// what a failed or killed run left ([`ChangeHook::resume`]): called
    /// first by every method that changes the index or the `.crate` files,
    /// so that the next change finishes pending work (a `--dry-run`, which
    /// changes nothing, does not).
    pub(super) fn begin(&self) -> Result<()> {
        self.check_change(&self.reg.settings)?;
        self.resume_once();
        Ok(())
    }

    /// [`Writer::begin`] for a change of regtool's own files (the token
    /// file, temp files), which the hook does not follow: the lock, then
    /// pending work.
    pub(super) fn begin_own(&self) -> Result<()> {
        self.check()?;
        self.resume_once();
        Ok(())
    }

    /// Has the hook finish pending work, once per writer (a failure is a
    /// warning: see [`Writer::derive`]).
    fn resume_once(&self) {
        if !self.resumed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let _ = self.derive(|h| h.resume(self));
        }
    }

    /// Tells the registry's hook of a change: the one place every hook call
    /// goes through. The index was written (or is about to be), and is the
    /// truth: a hook's error is one warning on stderr naming what the hook
    /// derives and the file, and `None`; the hook's pending work is finished
    /// by the next change or `regtool reindex`.
    pub(crate) fn derive<T>(&self, tell: impl FnOnce(&dyn ChangeHook) -> Result<T>) -> Option<T> {
        let hook = self.reg.hook.as_ref();
        match tell(hook) {
            Ok(t) => Some(t),
            Err(e) => {
                crate::output::warn(format_args!(
                    "{} was not brought up to date: {}\n(the registry's index was; the next change or `regtool reindex` finishes it)",
                    hook.describe(),
                    crate::error::Report(&e)
                ));
                None
            }
        }
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
                .store()?
                .put(key, &bytes, kind, &pre, Durability::Now)?
                == Outcome::Conflict
            {
                return Err(self.reg.conflict(key));
            }
        }
        let _ = self.derive(|h| h.rebuild(self));
        Ok(())
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
        if settings != self.reg.settings {
            let path = self.locate(SETTINGS_KEY);
            let was = |b: &[u8]| Settings::parse(&path, b).is_ok_and(|s| s == self.reg.settings);
            self.replace(SETTINGS_KEY, &settings.to_bytes(), ObjectKind::State, was)?;
            self.reg.settings = settings;
        }
        if config != self.reg.config {
            let path = self.locate(CONFIG_KEY);
            let was =
                |b: &[u8]| RegistryConfig::parse(&path, b).is_ok_and(|c| c == self.reg.config);
            self.replace(CONFIG_KEY, &config.to_bytes(), ObjectKind::Config, was)?;
            self.reg.config = config;
        }
        Ok(self
            .derive(|h| h.settings_changed(self, &old))
            .unwrap_or(Derived::Pending))
    }

    /// Writes `bytes` at `key` (the settings, `config.json`) in place of
    /// what this writer read: under an OS lock, atomically; under a lease,
    /// only if the object still says that (`was` its bytes; `If-Match` on
    /// the revision it has now), so that a holder paused past its lease
    /// cannot undo a later change.
    fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        was: impl Fn(&[u8]) -> bool,
    ) -> Result<()> {
        let pre = if self.reg.store.locks() {
            Precondition::Any
        } else {
            match self.reg.store.get(key)? {
                Some(o) if was(&o.bytes) => Precondition::Unchanged(o.revision),
                _ => return Err(self.reg.conflict(key)),
            }
        };
        match self.store()?.put(key, bytes, kind, &pre, Durability::Now)? {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(self.reg.conflict(key)),
        }
    }

    /// Tells the hook that `reindex` is about to write index files
    /// ([`ChangeHook::before_rebuild_writes`]): what it records is durable
    /// before the first index write. A failure is a warning (see
    /// [`Writer::derive`]): the index is written regardless.
    pub(crate) fn before_rebuild_writes(&self) {
        let _ = self.derive(|h| h.before_rebuild_writes(self));
    }

    /// Has the hook derive everything again from the index as it is (after
    /// `reindex`, which writes index files with [`Writer::write_index`]
    /// without telling the hook crate by crate): from `index`, every index
    /// file as the caller holds it now ([`ChangeHook::reindexed`]: no index
    /// file is read again), or, when `None`, from the storage
    /// ([`ChangeHook::rebuild`]).
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// What the hook fails with.
    pub(crate) fn rebuild_derived(&self, index: Option<IndexSnapshot>) -> Result<Derived> {
        self.check_change(&self.reg.settings)?;
        let derived = match index {
            Some(index) => self.derive(|h| h.reindexed(self, index)),
            None => self.derive(|h| h.rebuild(self)),
        };
        Ok(derived.unwrap_or(Derived::Pending))
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
        self.store()?.put(key, bytes, kind, pre, durability)
    }

    /// Deletes the object at `key`, a key the registry does not own (see
    /// [`Writer::put_object`]), if `pre` holds.
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    pub(crate) fn delete_object(&self, key: &str, pre: &Precondition) -> Result<Outcome> {
        self.check()?;
        debug_assert!(!layout::is_registry_key(key), "{key} is the registry's");
        self.store()?.delete(key, pre)
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
        self.begin_own()?;
        debug_assert!(key.starts_with(&format!("{STATE_DIR}/")));
        match self.store()?.put(
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
    /// writer changed it meanwhile, it is read again and `change` runs again
    /// (unless the file holds exactly what was written: in object storage, a
    /// retried write of ours that landed).
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
        self.begin()?;
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
            let _ = self.derive(|h| h.before_index_writes(self, &[&stored.name], Durability::Now));
            let written = self.write_index(&stored.name, &stored.index, &pre, Durability::Now)?;
            if written == Outcome::Done || self.landed(&stored)? {
                let change = Change {
                    name: &stored.name,
                    added: stored
                        .index
                        .lines
                        .iter()
                        .filter(|l| !before.contains(&l.package.vers))
                        .map(|l| (l.package.vers.clone(), None))
                        .collect(),
                };
                let _ = self.derive(|h| h.index_written(self, &[change]));
                return Ok(Some((stored.name, out)));
            }
        }
        Err(self.reg.conflict(&layout::index_key(name)))
    }

    /// Whether a write of `stored`'s index file that came back as a conflict
    /// landed all the same (the client retried it after a lost answer, and
    /// the retry found the file changed: by itself): the file holds exactly
    /// the bytes written. Under an OS lock a conflict is never our own.
    fn landed(&self, stored: &StoredCrate) -> Result<bool> {
        if self.reg.store.locks() {
            return Ok(false);
        }
        let key = layout::index_key(&stored.name);
        Ok(match self.reg.store.get(&key)? {
            Some(now) => !stored.index.lines.is_empty() && now.bytes == stored.index.to_bytes(),
            None => stored.index.lines.is_empty(),
        })
    }

    /// Writes `name`'s index file if `pre` holds, or deletes it when `file` has no
    /// lines. A new file ([`Precondition::Absent`]) claims the name first
    /// ([`Writer::claim`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Crate`] when another spelling
    /// of the name is claimed; what the hook refuses the change with
    /// ([`ChangeHook::can_follow`]: [`Error::FeatureMissing`]), before
    /// anything is written.
    pub(crate) fn write_index(
        &self,
        name: &CrateName,
        file: &IndexFile,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        self.begin()?;
        let key = layout::index_key(name);
        if file.lines.is_empty() {
            self.store()?.delete(&key, pre)
        } else {
            if *pre == Precondition::Absent {
                self.claim(name)?;
            }
            self.store()?
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
    /// Storage with an OS lock (a folder) has each index file's bytes staged
    /// beside it ([`crate::storage::Storage::stage`]: a temp file, nothing
    /// visible) while the `.crate` files go in, on the other core; after the
    /// barrier that makes the `.crate` files durable, each index write is one
    /// rename. No index line is visible before that barrier.
    ///
    /// Storage whose lock is a lease ([`crate::storage::Storage::locks`]
    /// false: object storage) gets conditional writes beside it, against a
    /// holder paused past its lease: each new crate claims its name first
    /// ([`Writer::claim`]); a `.crate` is created only where there is none (an
    /// object already there with the same bytes counts as written; one with
    /// other bytes is replaced, `If-Match`, when it is a repair or an orphan
    /// no line names); an index file that another writer changed since it
    /// was read is read again and this batch's versions are put into it
    /// again, with bounded retries and backoff.
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
    /// batch; [`Error::Crate`] when another spelling of a new crate's name is
    /// claimed; [`Error::Lock`] once the lease is lost. An error of the hook
    /// after the writes comes after the index was written (`reindex` rebuilds
    /// what the hook derives).
    pub(crate) fn publish(
        &self,
        batch: Vec<Publication>,
        durability: Durability,
        mut on_published: impl FnMut(&CrateName),
    ) -> Result<Vec<String>> {
        use rayon::prelude::*;
        self.begin()?;
        let preview: Vec<Added<'_>> = batch
            .iter()
            .map(|p| (&p.name, p.added.as_slice()))
            .collect();
        let _ = self.derive(|h| {
            h.prepare(self, &preview);
            Ok(())
        });
        drop(preview);
        let mut written = Vec::new();
        let mut indexes = Vec::new();
        let mut added = std::collections::HashMap::new();
        // New crates claim their name before any of their files is written:
        // a refused spelling leaves nothing behind.
        for p in &batch {
            if p.index.is_some() && p.revision.is_none() {
                self.claim(&p.name)?;
            }
        }
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
        // Beside them, under an OS lock, each index file is written to a
        // temp file next to it (`Storage::stage`: nothing visible), so that
        // the barrier below makes those bytes durable too and each index
        // write after it is one rename. Without an OS lock (object storage)
        // an index write may need a fresh read and a retry: it is made
        // whole below, as before.
        let stage_index = self.reg.store.locks();
        let (placed, staged) = rayon::join(
            || {
                placed
                    .into_par_iter()
                    .with_max_len(1)
                    .try_for_each(|(key, file)| {
                        // Under the lock no line names this key yet (or it is
                        // a repair): whatever is there is an orphan a killed
                        // run left, and is replaced.
                        let done = self.store()?.put_file(
                            &key,
                            file,
                            ObjectKind::Crate,
                            &Precondition::Any,
                            durability,
                        )?;
                        debug_assert_eq!(done, Outcome::Done);
                        Ok::<(), Error>(())
                    })
            },
            || {
                indexes
                    .par_iter()
                    .with_max_len(1)
                    .map(|(_, name, index, _, _)| {
                        if !stage_index || index.lines.is_empty() {
                            return Ok(None);
                        }
                        let key = layout::index_key(name);
                        let bytes = index.to_bytes();
                        let staged =
                            self.store()?
                                .stage(&key, &bytes, ObjectKind::Index, durability)?;
                        Ok(Some(staged))
                    })
                    .collect::<Result<Vec<Option<Staged>>>>()
            },
        );
        placed?;
        let mut staged = staged?;
        let names: Vec<&CrateName> = indexes.iter().map(|w| &w.1).collect();
        let _ = self.derive(|h| h.before_index_writes(self, &names, durability));
        self.reg.store.barrier()?;
        let max_level = indexes.iter().map(|w| w.0).max().unwrap_or(0);
        for level in 0..=max_level {
            let this_level: Vec<_> = indexes
                .iter()
                .zip(staged.iter_mut())
                .filter(|(w, _)| w.0 == level)
                .map(|(w, s)| (w, s.take()))
                .collect();
            this_level.into_par_iter().try_for_each(
                |((_, name, index, rev, versions), staged)| match staged {
                    Some(staged) => self.put_staged_index(name, staged, rev.clone(), durability),
                    None => self.write_batch_index(name, index, rev.clone(), versions, durability),
                },
            )?;
            self.reg.store.barrier()?;
            for (_, name, _, _, _) in indexes.iter().filter(|w| w.0 == level) {
                written.push(layout::index_key(name));
                on_published(name);
            }
        }
        let changes: Vec<Change<'_>> = indexes
            .iter()
            .map(|(_, name, _, _, _)| Change {
                name,
                added: added.remove(&name.canonical()).unwrap_or_default(),
            })
            .collect();
        let _ = self.derive(|h| h.index_written(self, &changes));
        Ok(written)
    }

    /// Puts the index file of a batch that [`Writer::publish`] staged under
    /// an OS lock, if it is still as read (`rev`).
    ///
    /// # Errors
    /// [`Error::Conflict`] when it is not; [`Error::Io`] naming the file.
    fn put_staged_index(
        &self,
        name: &CrateName,
        staged: Staged,
        rev: Option<Revision>,
        durability: Durability,
    ) -> Result<()> {
        let key = layout::index_key(name);
        let pre = Precondition::from_read(rev);
        match self
            .store()?
            .put_staged(&key, staged, ObjectKind::Index, &pre, durability)?
        {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(self.reg.conflict(&key)),
        }
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

    /// The `cksum` of `name`'s line for `vers`, if the index has one.
    fn line_cksum(&self, name: &CrateName, vers: &str) -> Result<Option<String>> {
        Ok(self.find_crate(name)?.and_then(|s| {
            s.index
                .lines
                .iter()
                .find(|l| l.package.vers == vers)
                .map(|l| l.package.cksum.clone())
        }))
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
                .store()?
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
                // The same bytes: a killed run's orphan, or a version
                // removed whose `.crate` delete has not landed yet. No line
                // names it: written again, so that such a late conditional
                // delete (a holder paused past its lease) cannot take it.
                if self.line_cksum(name, vers)?.is_none()
                    && self.store()?.refresh(key, ObjectKind::Crate)? == Outcome::Conflict
                {
                    pre = Precondition::Absent; // deleted meanwhile
                    continue;
                }
                return Ok(());
            }
            let line_cksum = self.line_cksum(name, vers)?;
            // A repair of a damaged copy, or an orphan no line names (a
            // killed or refused run's: under the lease no other add of it
            // is under way).
            let replace = line_cksum.is_none_or(|c| c == ours);
            if !replace {
                return Err(self.reg.conflict(key));
            }
            pre = Precondition::Unchanged(existing.revision);
        }
        Err(self.reg.conflict(key))
    }

    /// Releases the name claim of the canonical name `canonical` (`reindex`,
    /// once no index file and no `.crate` of it is left), if it is still as
    /// read.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Conflict`] when it changed meanwhile.
    pub(crate) fn release_claim(&self, canonical: &str) -> Result<()> {
        let key = format!("{}/{canonical}", layout::NAMES_DIR);
        let Some(claim) = self.reg.store.get(&key)? else {
            return Ok(());
        };
        let pre = Precondition::Unchanged(claim.revision);
        match self.store()?.delete(&key, &pre)? {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(self.reg.conflict(&key)),
        }
    }

    /// Deletes the `.crate` at `key` (and its folder once empty). In object
    /// storage the delete is conditional on the object as it is now
    /// (`If-Match`), so that a holder paused past its lease cannot delete a
    /// `.crate` the next holder wrote with other bytes.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Conflict`] when it changed
    /// between the two requests; what the hook refuses the change with
    /// ([`ChangeHook::can_follow`]: [`Error::FeatureMissing`]), before
    /// anything is written.
    pub(crate) fn delete_crate(&self, key: &str) -> Result<()> {
        self.begin()?;
        let pre = if self.reg.store.locks() {
            Precondition::Any
        } else {
            match self.reg.store.stat(key)? {
                Some(m) => Precondition::Unchanged(m.revision),
                None => return Ok(()),
            }
        };
        match self.store()?.delete(key, &pre)? {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(self.reg.conflict(key)),
        }
    }

    /// Moves a stored `.crate` from `from` to `to`.
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file.
    pub(crate) fn move_crate(&self, from: &str, to: &str) -> Result<()> {
        self.begin()?;
        self.store()?.rename(from, to, ObjectKind::Crate)
    }

    /// Makes a `.crate` put there by hand fit to serve (mode 0644).
    ///
    /// # Errors
    /// What the hook refuses the change with ([`ChangeHook::can_follow`]:
    /// [`Error::FeatureMissing`]), before anything is written.
    /// [`Error::Io`] naming the file.
    pub(crate) fn fix_crate(&self, key: &str) -> Result<()> {
        self.begin()?;
        self.store()?.fix_published(key, ObjectKind::Crate)
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
        self.begin_own()?;
        self.store()?.clean_temp(max_age, beside_published)
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
                    .push(format!("written {} +{added:?}", c.name));
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
        fn waiting(&self, _: crate::storage::Waiting<'_>) {}
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
                r#"written Foo +["1.0.0"]"#,
                r#"before ["Foo"]"#,
                r#"written Foo +[]"#,
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
        assert!(lost(w.rebuild_derived(None).map(|_| ())));
        let (settings, config) = (w.settings.clone(), w.config.clone());
        assert!(lost(w.update_settings(settings, config).map(|_| ())));
        // Nothing was written, and the hook heard of nothing after `create`.
        assert!(w.find_crate(&foo).unwrap().is_none());
        assert!(w.read_state(layout::TOKEN_FILE_KEY).unwrap().is_none());
        assert_eq!(*hook.0.lock().unwrap(), ["rebuild"]);
    }
}
