//! A registry: the only door to its files.
//!
//! Every read and write of a command goes through [`Registry`], which builds every
//! key (path) from a checked [`CrateName`] and keeps the registry's rules: a name
//! given in any spelling (case, `-`/`_`) resolves to the stored crate in one place
//! ([`Registry::find_crate`]); only index-shaped keys are index files
//! ([`crate::name::index_key_name`]); and [`Registry::publish`] keeps the publish
//! order (every `.crate` durable before the index line naming it, dependencies
//! before dependents). Below it a [`Storage`] holds the bytes
//! ([`LocalStorage`] for a folder). Source:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html>.

use crate::config::{RegistryConfig, Settings};
use crate::crate_file::Limits;
use crate::error::{Error, Result};
use crate::index::IndexFile;
use crate::name::{self, CrateName};
use crate::reader::{self, Entry};
use crate::storage::local::LocalStorage;
use crate::storage::{
    Durability, LockEvents, LockGuard, LockMode, Meta, ObjectKind, Outcome, Precondition, Revision,
    Storage,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod verbatim;
pub use verbatim::{VerbatimOutcome, VerbatimResult, VerbatimVersion};
pub(crate) use verbatim::{dependency_names, levels};

pub use crate::storage::local::STATE_DIR;
/// Folder of the `.crate` files.
pub const CRATES_DIR: &str = "crates";
/// Key of `config.json`.
pub const CONFIG_KEY: &str = "config.json";
/// Key of regtool's settings.
pub const SETTINGS_KEY: &str = ".regtool/config.toml";
/// How often a conditional write is retried after another writer changed the
/// object first (object storage without a lock).
const MAX_RETRIES: usize = 24;
/// Without a lock, a `.crate` no line names and whose bytes differ from the
/// ones being added is replaced only when it is older than this (a killed
/// run's orphan); younger, another `add` of that version may be under way.
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

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

/// An opened registry.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Arc<dyn Storage>,
    /// `config.json`.
    pub config: RegistryConfig,
    /// `.regtool/config.toml`.
    pub settings: Settings,
}

/// A crate as stored: its published name, its index file and that file's
/// revision (for a compare-and-swap write).
#[derive(Debug, Clone)]
pub struct StoredCrate {
    /// The name as published (the spelling in the index lines).
    pub name: CrateName,
    /// The index file.
    pub index: IndexFile,
    /// The index file's revision when read; `None` if it does not exist.
    pub revision: Option<Revision>,
}

/// What [`Registry::publish`] puts in for one crate.
#[derive(Debug)]
pub struct Publication {
    /// The crate (its published name).
    pub name: CrateName,
    /// Its rank in the batch: 0 for crates that depend on no other crate of the
    /// batch, else one more than the highest rank of those they depend on.
    pub level: usize,
    /// The index file to write (already holding the new lines); `None` to leave
    /// it as it is (only `.crate` files to restore).
    pub index: Option<IndexFile>,
    /// The revision the index file had when read.
    pub revision: Option<Revision>,
    /// `.crate` files to store: version and finished staging file.
    pub crates: Vec<(String, tempfile::NamedTempFile)>,
    /// The versions whose line is new in `index`, with their catalogue
    /// metadata when it is at hand (else the catalogue reads the `.crate`).
    pub added: Vec<(String, Option<crate::catalogue::VersionMeta>)>,
}

impl Registry {
    /// Opens the registry in the folder `dir`.
    ///
    /// # Errors
    /// [`Error::NotARegistry`] if `dir` lacks `config.json` or `.regtool/config.toml`;
    /// [`Error::Config`]/[`Error::Io`] if they cannot be read.
    pub fn open(dir: &Path) -> Result<Registry> {
        Self::open_in(Arc::new(LocalStorage::new(dir)))
    }

    /// Opens the registry held by `store`.
    ///
    /// # Errors
    /// As [`Registry::open`].
    pub fn open_in(store: Arc<dyn Storage>) -> Result<Registry> {
        let (reg, config_error) = Self::open_lenient_in(store)?;
        match config_error {
            Some(e) => Err(e),
            None => Ok(reg),
        }
    }

    /// Opens the registry in `dir` even when `config.json` is broken (for
    /// `verify`, which reports it): the error comes back beside a registry with a
    /// placeholder config.
    ///
    /// # Errors
    /// [`Error::NotARegistry`]; [`Error::Config`] for broken settings;
    /// [`Error::Io`].
    pub fn open_lenient(dir: &Path) -> Result<(Registry, Option<Error>)> {
        Self::open_lenient_in(Arc::new(LocalStorage::new(dir)))
    }

    /// Like [`Registry::open_lenient`] for the registry held by `store`.
    ///
    /// # Errors
    /// As [`Registry::open_lenient`].
    pub fn open_lenient_in(store: Arc<dyn Storage>) -> Result<(Registry, Option<Error>)> {
        let (Some(cfg), Some(settings)) = (store.get(CONFIG_KEY)?, store.get(SETTINGS_KEY)?) else {
            return Err(Error::NotARegistry {
                path: store.locate(""),
            });
        };
        let settings = Settings::parse(&store.locate(SETTINGS_KEY), &settings.bytes)?;
        let (config, error) = match RegistryConfig::parse(&store.locate(CONFIG_KEY), &cfg.bytes) {
            Ok(c) => (c, None),
            Err(e) => (RegistryConfig::for_base_url(&settings.url, false), Some(e)),
        };
        Ok((
            Registry {
                store,
                config,
                settings,
            },
            error,
        ))
    }

    /// Creates a registry in the folder `dir` (which may exist, but must not hold
    /// a registry): `.regtool/config.toml`, then `config.json`.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if `config.json` or `.regtool/config.toml` is there;
    /// [`Error::Io`] if a file cannot be written.
    pub fn create(dir: &Path, config: RegistryConfig, settings: Settings) -> Result<Registry> {
        Self::create_in(Arc::new(LocalStorage::new(dir)), config, settings)
    }

    /// Creates a registry in `store` (a folder, or a bucket prefix): as
    /// [`Registry::create`].
    ///
    /// # Errors
    /// As [`Registry::create`].
    pub fn create_in(
        store: Arc<dyn Storage>,
        config: RegistryConfig,
        settings: Settings,
    ) -> Result<Registry> {
        for key in [CONFIG_KEY, SETTINGS_KEY] {
            if store.stat(key)?.is_some() {
                return Err(Error::AlreadyExists {
                    path: store.locate(""),
                    found: store.locate(key),
                });
            }
        }
        store.init()?;
        let reg = Registry {
            store,
            config,
            settings,
        };
        // config.json last: its presence is what makes the folder a registry for cargo.
        reg.save_settings(Precondition::Absent, Precondition::Absent)?;
        Ok(reg)
    }

    /// Writes `settings` and `config` as they are in `self` (settings first).
    fn save_settings(&self, settings: Precondition, config: Precondition) -> Result<()> {
        let put = |key, bytes: Vec<u8>, kind, pre| match self.store.put(
            key,
            &bytes,
            kind,
            &pre,
            Durability::Now,
        )? {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(self.conflict(key)),
        };
        put(
            SETTINGS_KEY,
            self.settings.to_bytes(),
            ObjectKind::State,
            settings,
        )?;
        put(
            CONFIG_KEY,
            self.config.to_bytes(),
            ObjectKind::Config,
            config,
        )
    }

    /// Replaces the settings and `config.json` with `settings` and `config`
    /// (only the files that change).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that cannot be written.
    pub fn update_settings(&mut self, settings: Settings, config: RegistryConfig) -> Result<()> {
        if settings != self.settings {
            self.settings = settings;
            self.put(SETTINGS_KEY, &self.settings.to_bytes(), ObjectKind::State)?;
        }
        if config != self.config {
            self.config = config;
            self.put(CONFIG_KEY, &self.config.to_bytes(), ObjectKind::Config)?;
        }
        Ok(())
    }

    /// The storage below, for the catalogue (`crate::catalogue`), which
    /// writes only its own keys.
    pub(crate) fn storage(&self) -> &dyn Storage {
        self.store.as_ref()
    }

    fn put(&self, key: &str, bytes: &[u8], kind: ObjectKind) -> Result<()> {
        let _ = self
            .store
            .put(key, bytes, kind, &Precondition::Any, Durability::Now)?;
        Ok(())
    }

    fn conflict(&self, key: &str) -> Error {
        Error::Conflict {
            path: self.store.locate(key),
        }
    }

    /// Where the registry is (its folder, or its URL), for messages.
    pub fn location(&self) -> PathBuf {
        self.store.locate("")
    }

    /// Where the object at `key` is, for messages.
    pub fn locate(&self, key: &str) -> PathBuf {
        self.store.locate(key)
    }

    /// The registry's folder when it is a local one.
    pub fn local_root(&self) -> Option<&Path> {
        self.store.local_root()
    }

    /// The index URL cargo uses: `sparse+{url}/`.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/", self.settings.url)
    }

    /// Takes the registry's lock: exclusive for commands that change the
    /// registry, shared for `verify`, which must see it between two changes.
    ///
    /// # Errors
    /// [`Error::Io`] naming the lock.
    pub fn lock(&self, mode: LockMode, events: &dyn LockEvents) -> Result<Box<dyn LockGuard>> {
        self.store.lock(mode, events)
    }

    /// Key of the index file of `name`: cargo's prefix path of the lowercased name.
    pub fn index_key(name: &CrateName) -> String {
        name.index_path()
    }

    /// Key of the `.crate` of `name` `vers`: `crates/{name}/{name}-{vers}.crate`,
    /// the layout `config.json`'s `dl` template points at.
    pub fn crate_key(name: &CrateName, vers: &str) -> String {
        format!("{CRATES_DIR}/{name}/{name}-{vers}.crate")
    }

    /// Reads the index file at `key` (`None` if there is none), with its revision.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::IndexFile`] naming the first line that is not an
    /// index line.
    pub fn read_index_key(&self, key: &str) -> Result<Option<(IndexFile, Revision)>> {
        match self.store.get(key)? {
            None => Ok(None),
            Some(o) => Ok(Some((
                IndexFile::parse(&self.store.locate(key), &o.bytes)?,
                o.revision,
            ))),
        }
    }

    /// The raw bytes of the index file at `key` (for `verify`).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn read_raw(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.store.get(key)?.map(|o| o.bytes))
    }

    /// regtool's own object at `key` (a key under `.regtool/`, e.g. the token
    /// file) with its revision, for a later [`Registry::put_secret`]; `None` if
    /// there is none.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn read_state(&self, key: &str) -> Result<Option<(Vec<u8>, Revision)>> {
        debug_assert!(key.starts_with(&format!("{STATE_DIR}/")));
        Ok(self.store.get(key)?.map(|o| (o.bytes, o.revision)))
    }

    /// Writes the secret `bytes` at `key` (under `.regtool/`) atomically and
    /// durably, as [`ObjectKind::Secret`] (mode 0600 in a folder), if the object
    /// is still as [`Registry::read_state`] saw it (`read`: its revision, `None`
    /// when it was absent).
    ///
    /// # Errors
    /// [`Error::Conflict`] naming the file if another writer changed it since;
    /// [`Error::Io`] naming the file.
    pub fn put_secret(&self, key: &str, bytes: &[u8], read: Option<Revision>) -> Result<()> {
        debug_assert!(key.starts_with(&format!("{STATE_DIR}/")));
        match self.store.put(
            key,
            bytes,
            ObjectKind::Secret,
            &Precondition::from_read(read),
            Durability::Now,
        )? {
            Outcome::Done => Ok(()),
            Outcome::Conflict => Err(self.conflict(key)),
        }
    }

    /// Finds the crate `name` in any spelling (case, `-`/`_`): the crate cargo
    /// and crates.io take it to be. `None` if the registry has no such crate. If
    /// the registry holds two spellings of one crate (a damaged registry;
    /// `verify` reports it), the first in key order is taken.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::IndexFile`].
    pub fn find_crate(&self, name: &CrateName) -> Result<Option<StoredCrate>> {
        Ok(self.crates_named(name)?.into_iter().next())
    }

    /// Every stored crate that is the same crate as `name` (equal after
    /// lowercasing and `-`→`_`): normally none or one. Only the few index folders
    /// that could hold such a name are listed.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::IndexFile`].
    pub fn crates_named(&self, name: &CrateName) -> Result<Vec<StoredCrate>> {
        let canonical = name.canonical();
        let mut out = Vec::new();
        if let Some(keys) = self.spelling_keys(name) {
            // Object storage: a few GETs instead of LISTs of the folders.
            for key in keys {
                if let Some(stored) = self.stored_at(&key)? {
                    out.push(stored);
                }
            }
            return Ok(out);
        }
        for dir in name::sibling_index_dirs(name.as_str()) {
            for key in self.store.list(&dir)? {
                let Some(file) = name::index_key_name(&key) else {
                    continue;
                };
                if name::canonical(file) != canonical || key[dir.len()..].matches('/').count() != 1
                {
                    continue;
                }
                if let Some(stored) = self.stored_at(&key)? {
                    out.push(stored);
                }
            }
        }
        Ok(out)
    }

    /// The crate whose index file is at `key`, if there is one with a line.
    fn stored_at(&self, key: &str) -> Result<Option<StoredCrate>> {
        let Some((index, revision)) = self.read_index_key(key)? else {
            return Ok(None);
        };
        let Some(first) = index.lines.first() else {
            return Ok(None);
        };
        let Ok(stored) = CrateName::new(&first.package.name) else {
            return Ok(None);
        };
        Ok(Some(StoredCrate {
            name: stored,
            index,
            revision: Some(revision),
        }))
    }

    /// Every index key a spelling of `name` can have (each `-`/`_` both ways),
    /// when the storage's listings are costly and there are at most 8 such
    /// keys; `None` to list the folders instead.
    fn spelling_keys(&self, name: &CrateName) -> Option<Vec<String>> {
        let lower = name.as_str().to_ascii_lowercase();
        if self.store.cheap_listing() || lower.matches(['-', '_']).count() > 3 {
            return None;
        }
        let mut spellings = vec![String::new()];
        for c in lower.chars() {
            let options: &[char] = match c {
                '-' | '_' => &['-', '_'],
                _ => &[c],
            };
            spellings = spellings
                .iter()
                .flat_map(|p| options.iter().map(move |o| format!("{p}{o}")))
                .collect();
        }
        Some(spellings.iter().map(|s| name::index_path(s)).collect())
    }

    /// Reads `name`'s index file, changes it with `change` and writes it back
    /// (removing it when no line is left), as one compare-and-swap: if another
    /// writer changed it meanwhile, it is read again and `change` runs again.
    /// `change` gets the crate as stored (resolved from any spelling) and returns
    /// `Ok(None)` to leave the file alone. After a write the catalogue is
    /// brought up to date ([`crate::catalogue::update`]).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such crate; what `change` returns;
    /// [`Error::Io`], [`Error::IndexFile`]; [`Error::Conflict`] after too many retries.
    pub fn modify_crate<T>(
        &self,
        name: &CrateName,
        not_found: impl Fn() -> Error,
        mut change: impl FnMut(&mut StoredCrate) -> Result<Option<T>>,
    ) -> Result<Option<(CrateName, T)>> {
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
            crate::catalogue::mark_pending(self, [&stored.name], Durability::Now)?;
            if self.write_index(&stored.name, &stored.index, &pre, Durability::Now)?
                == Outcome::Done
            {
                let has = |v: &String| stored.index.lines.iter().any(|l| l.package.vers == *v);
                let change = crate::catalogue::Change {
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
                crate::catalogue::update(self, &[change])?;
                return Ok(Some((stored.name, out)));
            }
        }
        Err(self.conflict(&Self::index_key(name)))
    }

    /// Writes `name`'s index file if `pre` holds, or deletes it when `file` has no
    /// lines.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_index(
        &self,
        name: &CrateName,
        file: &IndexFile,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        let key = Self::index_key(name);
        if file.lines.is_empty() {
            self.store.delete(&key, pre)
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
    /// Storage without a lock ([`Storage::locks`] false: object storage) gets
    /// conditional writes instead: a `.crate` is created only where there is
    /// none (an object already there with the same bytes counts as written; one
    /// with other bytes is replaced only when it is a repair or an orphan older
    /// than [`ORPHAN_AGE`]); an index file that another writer changed since it
    /// was read is read again and this batch's versions are put into it again,
    /// with bounded retries and backoff.
    ///
    /// Then the catalogue is brought up to date ([`crate::catalogue::update`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Conflict`] when an index file was
    /// changed by another writer since it was read (storage with a lock) or kept
    /// changing, or when another writer holds other bytes for a version of the
    /// batch. An error writing the catalogue comes after the index was
    /// written (`reindex` rebuilds the catalogue).
    pub fn publish(
        &self,
        batch: Vec<Publication>,
        durability: Durability,
        mut on_published: impl FnMut(&CrateName),
    ) -> Result<Vec<String>> {
        use rayon::prelude::*;
        let mut written = Vec::new();
        let mut indexes = Vec::new();
        let mut added = std::collections::HashMap::new();
        for p in batch {
            added.insert(p.name.canonical(), p.added);
            let versions: Vec<String> = p.crates.iter().map(|(v, _)| v.clone()).collect();
            for (vers, file) in p.crates {
                let key = Self::crate_key(&p.name, &vers);
                if self.store.locks() {
                    // Under the lock no line names this key yet (or it is a
                    // repair): whatever is there is an orphan a killed run
                    // left, and is replaced.
                    let done = self.store.put_file(
                        &key,
                        file,
                        ObjectKind::Crate,
                        &Precondition::Any,
                        durability,
                    )?;
                    debug_assert_eq!(done, Outcome::Done);
                } else {
                    self.create_crate(&p.name, &vers, &key, &file)?;
                }
                written.push(key);
            }
            if let Some(index) = p.index {
                indexes.push((p.level, p.name, index, p.revision, versions));
            }
        }
        crate::catalogue::mark_pending(self, indexes.iter().map(|w| &w.1), durability)?;
        self.store.barrier()?;
        let max_level = indexes.iter().map(|w| w.0).max().unwrap_or(0);
        for level in 0..=max_level {
            let this_level: Vec<_> = indexes.iter().filter(|w| w.0 == level).collect();
            this_level
                .par_iter()
                .try_for_each(|(_, name, index, rev, versions)| {
                    self.write_batch_index(name, index, rev.clone(), versions, durability)
                })?;
            self.store.barrier()?;
            for (_, name, _, _, _) in this_level {
                written.push(Self::index_key(name));
                on_published(name);
            }
        }
        let changes: Vec<crate::catalogue::Change<'_>> = indexes
            .iter()
            .map(|(_, name, index, _, _)| crate::catalogue::Change {
                name,
                index,
                added: added.remove(&name.canonical()).unwrap_or_default(),
                removed: Vec::new(),
            })
            .collect();
        crate::catalogue::update(self, &changes)?;
        Ok(written)
    }

    /// Writes the index file of a batch (see [`Registry::publish`]): on a
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
            if self.store.locks() || ours.is_empty() {
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
                    Some(_) => return Err(self.conflict(&Self::index_key(name))),
                }
            }
            file = fresh;
            rev = fresh_rev;
        }
        Err(self.conflict(&Self::index_key(name)))
    }

    /// Stores a `.crate` without a lock (see [`Registry::publish`]).
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
            let Some(existing) = self.store.get(key)? else {
                pre = Precondition::Absent; // deleted meanwhile
                continue;
            };
            let theirs = crate::crate_file::sha256(existing.bytes.as_slice())
                .map_err(|e| Error::io("read", self.store.locate(key), e))?;
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
                return Err(self.conflict(key));
            }
            pre = Precondition::Unchanged(existing.revision);
        }
        Err(self.conflict(key))
    }

    /// Every index file's key, sorted: only index-shaped keys
    /// ([`name::index_key_name`]); other files are not the registry's.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed.
    pub fn index_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .index_like_keys()?
            .into_iter()
            .filter(|k| name::index_key_name(k).is_some())
            .collect())
    }

    /// Every key outside `crates/` and `.regtool/` that is laid out like an
    /// index file ([`name::looks_like_index_key`]), sorted.
    fn index_like_keys(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for top in self.store.folders("")? {
            if top != CRATES_DIR && matches!(top.chars().count(), 1 | 2) {
                out.extend(
                    self.store
                        .list(&top)?
                        .into_iter()
                        .filter(|k| name::looks_like_index_key(k)),
                );
            }
        }
        Ok(out)
    }

    /// Keys laid out like index files but not at the path of the name they hold
    /// (`3/x/foo`): misplaced, for `verify` to report. Never read or written
    /// otherwise.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed.
    pub fn misplaced_index_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .index_like_keys()?
            .into_iter()
            .filter(|k| name::index_key_name(k).is_none())
            .collect())
    }

    /// Every `*.crate` key under `crates/`, sorted (links followed).
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed.
    pub fn crate_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .list(CRATES_DIR)?
            .into_iter()
            .filter(|k| k.ends_with(".crate"))
            .collect())
    }

    /// Size and time of the object at `key`.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn stat(&self, key: &str) -> Result<Option<Meta>> {
        self.store.stat(key)
    }

    /// SHA-256 (lowercase hex) of the stored object at `key`, streamed; `None`
    /// if there is none.
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    pub fn sha256(&self, key: &str) -> Result<Option<String>> {
        match self.store.open(key)? {
            None => Ok(None),
            Some(r) => crate::crate_file::sha256(r)
                .map(Some)
                .map_err(|e| Error::io("read", self.store.locate(key), e)),
        }
    }

    /// Reads the stored `.crate` at `key` with the one crate reader. A stored
    /// crate was accepted already, so it is read with [`Limits::stored`]
    /// unless `limits` are given.
    ///
    /// # Errors
    /// See [`reader::read_entry`]; [`Error::NotFound`] if there is no object.
    pub fn read_stored_crate(&self, key: &str, limits: Option<&Limits>) -> Result<Entry> {
        let path = self.store.locate(key);
        let Some(source) = self.store.open(key)? else {
            return Err(Error::NotFound {
                message: format!("`{}` does not exist", path.display()),
            });
        };
        reader::read_entry(
            source,
            &path,
            limits.unwrap_or(&Limits::stored()),
            &self.settings,
            None,
        )
    }

    /// A staging file to copy an input `.crate` into while reading it (see
    /// [`Publication::crates`]).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        self.store.staging_file()
    }

    /// Deletes the `.crate` at `key` (and its folder once empty).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn delete_crate(&self, key: &str) -> Result<()> {
        let _ = self.store.delete(key, &Precondition::Any)?;
        Ok(())
    }

    /// Whether the keys `a` and `b` reach one stored file (through a linked
    /// folder): then neither is a copy of the other.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn same_object(&self, a: &str, b: &str) -> Result<bool> {
        self.store.same_object(a, b)
    }

    /// Moves a stored `.crate` from `from` to `to`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn move_crate(&self, from: &str, to: &str) -> Result<()> {
        self.store.rename(from, to, ObjectKind::Crate)
    }

    /// Makes a `.crate` put there by hand fit to serve (mode 0644).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn fix_crate(&self, key: &str) -> Result<()> {
        self.store.fix_published(key, ObjectKind::Crate)
    }

    /// Deletes temp files a killed regtool left behind: beside published files
    /// (only while holding the exclusive lock) and, in any case, staging files
    /// older than `max_age`. Returns how many were removed.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn clean_temp(
        &self,
        max_age: std::time::Duration,
        beside_published: bool,
    ) -> Result<usize> {
        self.store.clean_temp(max_age, beside_published)
    }
}
