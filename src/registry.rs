//! A registry: the only door to its files. Floor 3 (`registry`): imports the
//! storage, the input readers and the core, never the catalogue or a command.
//!
//! Every read of a command goes through [`Registry`], every write through a
//! [`Writer`] (the registry's exclusive lock made a value: it alone has the
//! methods that change the registry). Both build every key from a checked
//! [`CrateName`] through [`crate::layout`] and keep the registry's rules: a
//! name given in any spelling (case, `-`/`_`) resolves to the stored crate in
//! one place ([`Registry::find_crate`]); only index-shaped keys are index
//! files ([`crate::layout::index_key_name`]); and [`Writer::publish`] keeps
//! the publish order (every `.crate` durable before the index line naming it,
//! dependencies before dependents). Below it a [`Storage`] holds the bytes;
//! beside it a [`ChangeHook`] (installed by whoever opens the registry) is
//! told of every change, so that what is derived from the index (the
//! catalogue) follows it. Source:
//! <https://doc.rust-lang.org/cargo/reference/registry-index.html>.

use crate::config::{LEASE_WRITER_VERSION, RegistryConfig, Settings};
use crate::crate_file::Limits;
use crate::error::{Error, Result};
use crate::index::IndexFile;
use crate::layout::{self, CONFIG_KEY, CRATES_DIR, SETTINGS_KEY, STATE_DIR};
use crate::name::{self, CrateName};
use crate::reader::{self, Entry};
use crate::storage::{
    Durability, LockEvents, LockGuard, LockMode, Meta, Object, ObjectKind, Outcome, Precondition,
    Revision, Storage, Unlocked,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod hook;
mod verbatim;
mod writer;
pub(crate) use hook::{Added, Change, ChangeHook, Derived, IndexSnapshot};
pub(crate) use verbatim::{VerbatimOutcome, VerbatimVersion};
pub(crate) use verbatim::{dependency_names, levels};
pub(crate) use writer::{Publication, Writer};

/// From this many files on, a command makes its writes durable with a few
/// barriers ([`Durability::Deferred`]: one `syncfs` per step in a folder)
/// instead of an fsync per file and folder.
pub(crate) const BATCH_SYNC_MIN: usize = 8;

/// How a batch of `files` writes is made durable (see [`BATCH_SYNC_MIN`]).
pub(crate) fn batch_durability(files: usize) -> Durability {
    if files >= BATCH_SYNC_MIN {
        Durability::Deferred
    } else {
        Durability::Now
    }
}

/// An opened registry: reads only. [`Registry::writer`] takes the lock and
/// gives the [`Writer`] that changes it. Cloning is cheap (the storage and
/// the hook are shared).
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    store: Arc<dyn Storage>,
    hook: Arc<dyn ChangeHook>,
    /// `config.json`.
    pub(crate) config: RegistryConfig,
    /// `.regtool/config.toml`.
    pub(crate) settings: Settings,
}

/// Reads a name claim: the spelling, on one line.
fn parse_claim(path: &Path, bytes: &[u8]) -> Result<CrateName> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| CrateName::new(t.trim()).ok())
        .ok_or_else(|| Error::Config {
            path: path.to_path_buf(),
            message: "not a name claim (one crate name on one line)".into(),
        })
}

/// A crate as stored: its published name, its index file and that file's
/// revision (for a compare-and-swap write).
#[derive(Debug, Clone)]
pub(crate) struct StoredCrate {
    /// The name as published (the spelling in the index lines).
    pub(crate) name: CrateName,
    /// The index file.
    pub(crate) index: IndexFile,
    /// The index file's revision when read; `None` if it does not exist.
    pub(crate) revision: Option<Revision>,
}

impl Registry {
    /// Opens the registry held by `store`, telling `hook` of every change
    /// made through its writer.
    ///
    /// # Errors
    /// [`Error::NotARegistry`] if the storage lacks `config.json` or
    /// `.regtool/config.toml`; [`Error::Config`]/[`Error::Io`] naming the file
    /// that cannot be read.
    pub(crate) fn open(store: Arc<dyn Storage>, hook: Arc<dyn ChangeHook>) -> Result<Registry> {
        let (reg, config_error) = Self::open_lenient(store, hook)?;
        match config_error {
            Some(e) => Err(e),
            None => Ok(reg),
        }
    }

    /// Opens the registry even when `config.json` is broken (for `verify`,
    /// which reports it): the error comes back beside a registry with a
    /// placeholder config.
    ///
    /// # Errors
    /// [`Error::NotARegistry`]; [`Error::Config`] for broken settings;
    /// [`Error::Io`].
    pub(crate) fn open_lenient(
        store: Arc<dyn Storage>,
        hook: Arc<dyn ChangeHook>,
    ) -> Result<(Registry, Option<Error>)> {
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
                hook,
                config,
                settings,
            },
            error,
        ))
    }

    /// Creates a registry in `store` (a folder, which may exist but must not
    /// hold a registry, or a bucket prefix): prepares the storage, takes the
    /// lock (`events` hears of a wait), writes `.regtool/config.toml` (in a
    /// bucket with `min-writer-version` 2: its writers take the lease), then
    /// `config.json` (its presence is what makes the folder a registry for
    /// cargo), and tells `hook` to derive its files. Returns the writer,
    /// still holding the lock.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if `config.json` or `.regtool/config.toml` is there;
    /// [`Error::Io`] if a file cannot be written; [`Error::Conflict`] if
    /// another `init` wrote one of them first; what the hook fails with.
    pub(crate) fn create(
        store: Arc<dyn Storage>,
        hook: Arc<dyn ChangeHook>,
        config: RegistryConfig,
        mut settings: Settings,
        events: &dyn LockEvents,
    ) -> Result<Writer> {
        if !store.locks() {
            // Writers of a bucket must take its lease and claim names.
            settings.min_writer_version = settings.min_writer_version.max(LEASE_WRITER_VERSION);
        }
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
            hook,
            config,
            settings,
        };
        let guard = reg
            .store
            .lock(LockMode::Exclusive, reg.settings.lease(), events)?;
        let writer = Writer::new(reg, guard);
        writer.create_files()?;
        Ok(writer)
    }

    /// Takes the registry's exclusive lock (waiting while another writer
    /// holds it, at most [`LockEvents::patience`]; `events` hears of the
    /// wait, or that the storage cannot lock) and returns the [`Writer`] that
    /// holds it. In a folder the lock is `flock`; in object storage it is the
    /// registry's lease (`storage::lease`, for the settings'
    /// [`Settings::lease`]), and the settings are read again under it (and
    /// marked as needing a writer that takes the lease, once).
    ///
    /// # Errors
    /// [`Error::WriterVersion`] when the registry needs a newer regtool;
    /// [`Error::Lock`] when the wait timed out; [`Error::Io`] naming the
    /// lock; [`Error::Config`] for broken settings.
    pub(crate) fn writer(&self, events: &dyn LockEvents) -> Result<Writer> {
        let settings_path = self.store.locate(SETTINGS_KEY);
        self.settings.check_writer_version(&settings_path)?;
        let guard = self
            .store
            .lock(LockMode::Exclusive, self.settings.lease(), events)?;
        let mut reg = self.clone();
        if !self.store.locks() {
            let Some(now) = self.store.get(SETTINGS_KEY)? else {
                return Err(Error::NotARegistry {
                    path: self.store.locate(""),
                });
            };
            reg.settings = Settings::parse(&settings_path, &now.bytes)?;
            reg.settings.check_writer_version(&settings_path)?;
            if reg.settings.min_writer_version < LEASE_WRITER_VERSION {
                reg.settings.min_writer_version = LEASE_WRITER_VERSION;
                let pre = Precondition::Unchanged(now.revision);
                let bytes = reg.settings.to_bytes();
                if self.store.put(
                    SETTINGS_KEY,
                    &bytes,
                    ObjectKind::State,
                    &pre,
                    Durability::Now,
                )? == Outcome::Conflict
                {
                    return Err(self.conflict(SETTINGS_KEY));
                }
            }
        }
        Ok(Writer::new(reg, guard))
    }

    /// Frees the registry's lease for a holder known to be dead (see
    /// [`Storage::unlock`]; `force` frees a live one too). A folder has
    /// none: its lock goes with its process.
    ///
    /// # Errors
    /// [`Error::Lock`] when the lease is renewed while watched, or still
    /// fresh when [`LockEvents::patience`] ran out; [`Error::Io`].
    pub(crate) fn unlock(&self, force: bool, events: &dyn LockEvents) -> Result<Unlocked> {
        self.store.unlock(force, self.settings.lease(), events)
    }

    /// The spelling claimed for the crate `name` in a registry in object
    /// storage (`.regtool/names/{canonical}`): the spelling every index
    /// file of it must have, even once every version is removed. `None`
    /// when there is no claim, or in a folder (no claims there).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Config`] for a claim that is not a crate name.
    pub(crate) fn claimed_spelling(&self, name: &CrateName) -> Result<Option<CrateName>> {
        if self.store.locks() {
            return Ok(None);
        }
        let key = layout::name_claim_key(name);
        let Some(claim) = self.store.get(&key)? else {
            return Ok(None);
        };
        parse_claim(&self.store.locate(&key), &claim.bytes).map(Some)
    }

    /// The canonical names claimed in a registry in object storage
    /// (`.regtool/names/`), sorted; none in a folder.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be listed.
    pub(crate) fn name_claims(&self) -> Result<Vec<String>> {
        if self.store.locks() {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .list(layout::NAMES_DIR)?
            .iter()
            .filter_map(|k| k.rsplit('/').next().map(str::to_string))
            .collect())
    }

    /// Whether the registry's lock is a lease (object storage), which a
    /// holder paused past it can outlive: writers then fence with
    /// conditional writes and name claims ([`Storage::locks`]).
    pub(crate) fn lock_is_lease(&self) -> bool {
        !self.store.locks()
    }

    /// The other spelling `name` collides with, if any: a stored crate's
    /// (of `stored`, the result of [`Registry::crates_named`]), else the
    /// claimed one ([`Registry::claimed_spelling`]).
    ///
    /// # Errors
    /// As [`Registry::claimed_spelling`].
    pub(crate) fn other_spelling(
        &self,
        name: &CrateName,
        stored: &[StoredCrate],
    ) -> Result<Option<CrateName>> {
        if let Some(other) = stored.iter().find(|s| s.name != *name) {
            return Ok(Some(other.name.clone()));
        }
        if !stored.is_empty() {
            return Ok(None);
        }
        Ok(self.claimed_spelling(name)?.filter(|c| c != name))
    }

    /// Takes the registry's lock shared, for a reader (`verify`) that must see
    /// the registry between two changes: waits while a writer holds it.
    ///
    /// # Errors
    /// [`Error::Io`] naming the lock.
    pub(crate) fn shared_lock(&self, events: &dyn LockEvents) -> Result<Box<dyn LockGuard>> {
        self.store
            .lock(LockMode::Shared, self.settings.lease(), events)
    }

    fn conflict(&self, key: &str) -> Error {
        Error::Conflict {
            path: self.store.locate(key),
        }
    }

    /// Where the registry is (its folder, or its URL), for messages.
    pub(crate) fn location(&self) -> PathBuf {
        self.store.locate("")
    }

    /// Where the object at `key` is, for messages.
    pub(crate) fn locate(&self, key: &str) -> PathBuf {
        self.store.locate(key)
    }

    /// The registry's folder when it is a local one.
    pub(crate) fn local_root(&self) -> Option<&Path> {
        self.store.local_root()
    }

    /// The index URL cargo uses: `sparse+{url}/`.
    pub(crate) fn index_url(&self) -> String {
        format!("sparse+{}/", self.settings.url)
    }

    /// Reads the index file at `key` (`None` if there is none), with its revision.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::IndexFile`] naming the first line that is not an
    /// index line.
    pub(crate) fn read_index_key(&self, key: &str) -> Result<Option<(IndexFile, Revision)>> {
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
    pub(crate) fn read_raw(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.store.get(key)?.map(|o| o.bytes))
    }

    /// regtool's own object at `key` (a key under `.regtool/`, e.g. the token
    /// file) with its revision, for a later [`Writer::put_secret`]; `None` if
    /// there is none.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn read_state(&self, key: &str) -> Result<Option<(Vec<u8>, Revision)>> {
        debug_assert!(key.starts_with(&format!("{STATE_DIR}/")));
        Ok(self.store.get(key)?.map(|o| (o.bytes, o.revision)))
    }

    /// Finds the crate `name` in any spelling (case, `-`/`_`): the crate cargo
    /// and crates.io take it to be. `None` if the registry has no such crate. If
    /// the registry holds two spellings of one crate (a damaged registry;
    /// `verify` reports it), the first in key order is taken.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::IndexFile`].
    pub(crate) fn find_crate(&self, name: &CrateName) -> Result<Option<StoredCrate>> {
        Ok(self.crates_named(name)?.into_iter().next())
    }

    /// Every stored crate that is the same crate as `name` (equal after
    /// lowercasing and `-`→`_`): normally none or one. Only the few index folders
    /// that could hold such a name are listed.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::IndexFile`].
    pub(crate) fn crates_named(&self, name: &CrateName) -> Result<Vec<StoredCrate>> {
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
        for dir in layout::sibling_index_dirs(name.as_str()) {
            for key in self.store.list(&dir)? {
                let Some(file) = layout::index_key_name(&key) else {
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
        Some(
            layout::separator_spellings(&lower)
                .iter()
                .map(|s| layout::index_path(s))
                .collect(),
        )
    }

    /// Every index file's key, sorted: only index-shaped keys
    /// ([`layout::index_key_name`]); other files are not the registry's.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed.
    pub(crate) fn index_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .index_like_keys()?
            .into_iter()
            .filter(|k| layout::index_key_name(k).is_some())
            .collect())
    }

    /// Every key outside `crates/` and `.regtool/` that is laid out like an
    /// index file ([`layout::looks_like_index_key`]), sorted.
    fn index_like_keys(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for top in self.store.folders("")? {
            if layout::is_index_folder(&top) {
                out.extend(
                    self.store
                        .list(&top)?
                        .into_iter()
                        .filter(|k| layout::looks_like_index_key(k)),
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
    pub(crate) fn misplaced_index_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .index_like_keys()?
            .into_iter()
            .filter(|k| layout::index_key_name(k).is_none())
            .collect())
    }

    /// Every `*.crate` key under `crates/`, sorted (links followed).
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed.
    pub(crate) fn crate_keys(&self) -> Result<Vec<String>> {
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
    pub(crate) fn stat(&self, key: &str) -> Result<Option<Meta>> {
        self.store.stat(key)
    }

    /// Opens the stored object at `key` for streaming; `None` if there is
    /// none (on a bucket, its bytes are fetched whole first).
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    #[cfg(any(feature = "serve", feature = "html"))]
    pub(crate) fn open_object(&self, key: &str) -> Result<Option<Box<dyn std::io::Read + Send>>> {
        self.store.open(key)
    }

    /// SHA-256 (lowercase hex) of the stored object at `key`, streamed; `None`
    /// if there is none.
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    pub(crate) fn sha256(&self, key: &str) -> Result<Option<String>> {
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
    pub(crate) fn read_stored_crate(&self, key: &str, limits: Option<&Limits>) -> Result<Entry> {
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
    /// [`Publication::crates`]). No change of the registry (nothing is served
    /// from there, and a writer removes what a killed run left), so it may be
    /// made before the lock is taken: `add` reads its inputs first, and takes
    /// the lock only to check them against the registry and publish.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        self.store.staging_file()
    }

    /// Says that `file` (from [`Registry::staging_file`]) is complete
    /// ([`Storage::staging_done`]: its bytes start on their way to the disk).
    pub(crate) fn staging_done(&self, file: &tempfile::NamedTempFile) {
        self.store.staging_done(file);
    }

    /// Removes the staging files a killed run left: those last written more
    /// than `max_age` ago that no running regtool holds open (each staging
    /// file carries a shared `flock` while in use), in `.regtool/tmp/` of a
    /// folder, or ours in the system's temp folder for a bucket. Needs no
    /// lock of the registry. Returns how many were removed.
    ///
    /// # Errors
    /// [`Error::Io`] naming a file of `.regtool/tmp/` that could not be
    /// removed.
    #[cfg(feature = "serve")]
    pub(crate) fn sweep_staging(&self, max_age: std::time::Duration) -> Result<usize> {
        self.store.clean_temp(max_age, false)
    }

    /// Whether the keys `a` and `b` reach one stored file (through a linked
    /// folder): then neither is a copy of the other.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn same_object(&self, a: &str, b: &str) -> Result<bool> {
        self.store.same_object(a, b)
    }

    /// The object at `key` (a key the registry does not own: the catalogue's),
    /// with its revision; `None` if there is none.
    ///
    /// # Errors
    /// [`Error::Io`] naming the object.
    pub(crate) fn get_object(&self, key: &str) -> Result<Option<Object>> {
        self.store.get(key)
    }

    /// Every key under `prefix` (a folder), sorted; names starting with `.`
    /// are left out (see [`Storage::list`]).
    ///
    /// # Errors
    /// [`Error::Io`] naming the folder.
    pub(crate) fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.store.list(prefix)
    }

    /// Keys listings returned that cannot be read back, left out of every
    /// listing so far (see [`Storage::unreadable_keys`]), for reports.
    pub(crate) fn unreadable_keys(&self) -> Vec<String> {
        self.store.unreadable_keys()
    }

    /// Whether listing a folder costs about as little as reading one object
    /// (see [`Storage::cheap_listing`]). Only the catalogue asks (feature `html`).
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    pub(crate) fn cheap_listing(&self) -> bool {
        self.store.cheap_listing()
    }
}
