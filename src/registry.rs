//! A registry folder: opening and creating it, its lock, and every path in it.
//! This is the only module that builds paths inside a registry (`DESIGN.md` §1).

use crate::config::{RegistryConfig, Settings};
use crate::error::{Error, Result};
use crate::fs::{self as rfs, Lock};
use crate::index::IndexFile;
use crate::name::{self, CrateName};
use std::path::{Path, PathBuf};

/// Name of regtool's own folder inside a registry.
pub const STATE_DIR: &str = ".regtool";
/// Folder of the `.crate` files.
pub const CRATES_DIR: &str = "crates";

/// An opened registry.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    /// `config.json`.
    pub config: RegistryConfig,
    /// `.regtool/config.toml`.
    pub settings: Settings,
}

impl Registry {
    /// Opens the registry at `root`.
    ///
    /// # Errors
    /// [`Error::NotARegistry`] if `root` lacks `config.json` or `.regtool/config.toml`;
    /// [`Error::Config`]/[`Error::Io`] if they cannot be read.
    pub fn open(root: &Path) -> Result<Registry> {
        let cfg = root.join("config.json");
        let settings = root.join(STATE_DIR).join("config.toml");
        if !cfg.is_file() || !settings.is_file() {
            return Err(Error::NotARegistry {
                path: root.to_path_buf(),
            });
        }
        Ok(Registry {
            root: root.to_path_buf(),
            config: RegistryConfig::load(&cfg)?,
            settings: Settings::load(&settings)?,
        })
    }

    /// Creates a registry at `root` (the folder may exist, but must not hold a
    /// registry): `config.json`, `.regtool/config.toml`, `.regtool/tmp/`, `crates/`.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if `config.json` or `.regtool/` is there;
    /// [`Error::Io`] if a file cannot be written.
    pub fn create(root: &Path, config: RegistryConfig, settings: Settings) -> Result<Registry> {
        for found in [root.join("config.json"), root.join(STATE_DIR)] {
            if found.exists() {
                return Err(Error::AlreadyExists {
                    path: root.to_path_buf(),
                    found,
                });
            }
        }
        rfs::create_dirs(&root.join(STATE_DIR).join("tmp"))?;
        rfs::create_dirs(&root.join(CRATES_DIR))?;
        rfs::write_atomic(
            &root.join(STATE_DIR).join("config.toml"),
            &settings.to_bytes(),
        )?;
        // config.json last: its presence is what makes the folder a registry for cargo.
        rfs::write_atomic(&root.join("config.json"), &config.to_bytes())?;
        Ok(Registry {
            root: root.to_path_buf(),
            config,
            settings,
        })
    }

    /// A registry from parts already read (used by `verify`, which goes on when
    /// `config.json` is broken).
    pub fn from_parts(root: &Path, config: RegistryConfig, settings: Settings) -> Registry {
        Registry {
            root: root.to_path_buf(),
            config,
            settings,
        }
    }

    /// The registry folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The index URL cargo uses: `sparse+{url}/`.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/", self.settings.url)
    }

    /// Takes the registry's lock (`.regtool/lock`): exclusive for commands that
    /// change the registry, shared (`shared`) for `verify`, which must see it
    /// between two changes. Waits if needed; `on_wait` is told the lock's path
    /// first, `on_unsupported` is told once if the file system cannot lock.
    ///
    /// # Errors
    /// [`Error::Io`] naming the lock file.
    pub fn lock(
        &self,
        shared: bool,
        on_wait: impl FnOnce(&Path),
        on_unsupported: impl FnOnce(&Path, &std::io::Error),
    ) -> Result<Lock> {
        Lock::acquire_as(
            &self.root.join(STATE_DIR).join("lock"),
            shared,
            on_wait,
            on_unsupported,
        )
    }

    /// Folder for temporary files (same file system as the registry).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR).join("tmp")
    }

    /// Path of the index file of `name`.
    pub fn index_path(&self, name: &str) -> PathBuf {
        self.root.join(name::index_path(name))
    }

    /// Path of the `.crate` of `name` `vers`: `crates/{name}/{name}-{vers}.crate`.
    pub fn crate_path(&self, name: &str, vers: &str) -> PathBuf {
        self.root
            .join(CRATES_DIR)
            .join(name)
            .join(format!("{name}-{vers}.crate"))
    }

    /// Reads the index file of `name` (empty if none).
    ///
    /// # Errors
    /// See [`IndexFile::load`].
    pub fn load_index(&self, name: &str) -> Result<IndexFile> {
        IndexFile::load(&self.index_path(name))
    }

    /// Writes the index file of `name` atomically, or removes it when empty.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn store_index(&self, name: &str, file: &IndexFile) -> Result<()> {
        let path = self.index_path(name);
        if file.lines.is_empty() {
            rfs::remove_file(&path)
        } else {
            rfs::write_atomic(&path, &file.to_bytes())
        }
    }

    /// The published names of the crates that are the same crate as `name`
    /// (equal after lowercasing and `-`→`_`), looking only at the few index
    /// folders that could hold them. Normally zero or one name.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed; see [`IndexFile::load`].
    pub fn same_crate_names(&self, name: &str) -> Result<Vec<String>> {
        let canonical = name::canonical(name);
        let mut out = Vec::new();
        for dir in name::sibling_index_dirs(name) {
            let dir = self.root.join(dir);
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("list", dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
                let file = entry.file_name();
                let Some(file) = file.to_str() else { continue };
                if file.starts_with('.') || name::canonical(file) != canonical {
                    continue;
                }
                if let Some(first) = IndexFile::load(&entry.path())?.lines.first() {
                    out.push(first.package.name.clone());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The name of an existing crate that is the same crate as `name` under
    /// another spelling (case, `-`/`_`).
    ///
    /// # Errors
    /// See [`Registry::same_crate_names`].
    pub fn spelling_conflict(&self, name: &CrateName) -> Result<Option<String>> {
        Ok(self
            .same_crate_names(name.as_str())?
            .into_iter()
            .find(|n| n != name.as_str()))
    }

    /// Every index file under the registry, as paths relative to the root with
    /// `/` separators, sorted.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed.
    pub fn index_files(&self) -> Result<Vec<String>> {
        let skip_top = |n: &str| n == STATE_DIR || n == CRATES_DIR || n == "config.json";
        let files = walk_files(&self.root, |depth, name| !(depth == 1 && skip_top(name)))?;
        Ok(files
            .into_iter()
            .map(|p| {
                p.strip_prefix(&self.root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect())
    }

    /// Every `*.crate` file under `crates/`, sorted.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed.
    pub fn crate_files(&self) -> Result<Vec<PathBuf>> {
        let files = walk_files(&self.root.join(CRATES_DIR), |_, _| true)?;
        Ok(files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "crate"))
            .collect())
    }

    /// Deletes temp files a killed regtool left behind: `.regtool-tmp-*` files and
    /// folders next to index and `.crate` files (only ever written under the lock, so stale when
    /// the caller holds it) and files in `.regtool/tmp/` older than `max_age`
    /// (those are written before the lock is taken). Returns how many were removed.
    /// Call only while holding the lock.
    ///
    /// # Errors
    /// [`Error::Io`] if a folder cannot be listed or a file removed.
    pub fn clean_stale_temp(&self, max_age: std::time::Duration) -> Result<usize> {
        let mut removed = 0;
        let walker = walkdir::WalkDir::new(&self.root)
            .min_depth(1)
            .into_iter()
            .filter_entry(|e| !(e.depth() == 1 && e.file_name() == STATE_DIR));
        let mut stale_dirs = Vec::new();
        for entry in walker.filter_map(|e| e.ok()) {
            if !entry
                .file_name()
                .to_string_lossy()
                .starts_with(rfs::TEMP_PREFIX)
            {
                continue;
            }
            if entry.file_type().is_dir() {
                stale_dirs.push(entry.into_path());
            } else {
                rfs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        for dir in stale_dirs.iter().rev() {
            if std::fs::remove_dir_all(dir).is_ok() {
                removed += 1;
            }
        }
        Ok(removed + self.clean_old_uploads(max_age)?)
    }

    /// Deletes files in `.regtool/tmp/` older than `max_age`: copies of `.crate`
    /// files that a killed `add` was reading (they can be large). Cheap: one
    /// folder is listed. Returns how many were removed.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be removed.
    pub fn clean_old_uploads(&self, max_age: std::time::Duration) -> Result<usize> {
        let mut removed = 0;
        if let Ok(entries) = std::fs::read_dir(self.tmp_dir()) {
            let now = std::time::SystemTime::now();
            for entry in entries.filter_map(|e| e.ok()) {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > max_age);
                if old {
                    rfs::remove_file(&entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// The regular files below `root` (sorted), skipping dotfiles and dot-folders
/// (temp files, `.regtool/`) and any entry `keep(depth, name)` refuses. Entries
/// that vanish while the walk runs (another process renaming a temp file) are
/// skipped; a missing `root` gives no files.
fn walk_files(root: &Path, keep: impl Fn(usize, &str) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !name.starts_with('.') && keep(e.depth(), &name)
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e)
                if e.io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
            {
                continue;
            }
            Err(e) => {
                let p = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                return Err(Error::io("list", p, e.into()));
            }
        };
        if entry.file_type().is_file() {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}
