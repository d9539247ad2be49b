//! A registry in a local folder: the folder backend of [`Storage`]. Floor 2
//! (`storage`), with its file-system primitives in [`fs`]: the one place (with
//! the inputs `crate_file`, `reader` and `lockfile` read, and `nginx-config`'s
//! paths) that touches files directly.
//!
//! Writes are atomic (temp file beside the target, mode 0644, fsync, rename,
//! fsync of the folder; see [`fs`]). Deferred writes skip the fsyncs and
//! [`Storage::barrier`] makes them durable with one `syncfs` (Linux). The lock is
//! `flock` on `.regtool/lock`. Index files and `config.json` get an mtime that
//! always moves on by at least a second, since web servers derive `ETag` and
//! `Last-Modified` from it in whole seconds, and never runs more than a second
//! ahead of the clock.

// The folder backend: the one place that touches the registry's files.
#![allow(clippy::disallowed_methods)]

use super::{
    Durability, LockEvents, LockGuard, LockMode, Meta, Object, ObjectKind, Outcome, Precondition,
    Revision, Staged, Storage, Waiting, check_key,
};
pub(crate) mod fs;

use self::fs::{self as rfs, Lock};
use crate::error::{Error, Result};
use crate::layout::{CRATES_DIR, LOCK_KEY, STATE_DIR, TMP_DIR};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A registry folder.
#[derive(Debug)]
pub(crate) struct LocalStorage {
    root: PathBuf,
    /// Whether deferred writes wait for a barrier.
    deferred: AtomicBool,
    /// Files listings left out because their name is not UTF-8 (no key).
    unreadable: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl LocalStorage {
    /// Storage in the folder `root` (which may not exist yet).
    pub(crate) fn new(root: &Path) -> LocalStorage {
        LocalStorage {
            root: root.to_path_buf(),
            deferred: AtomicBool::new(false),
            unreadable: std::sync::Mutex::default(),
        }
    }

    /// The file of `key`, checked ([`check_key`]).
    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key, false)?;
        Ok(self.root.join(key))
    }

    /// The folder of `prefix` (`""`: the registry's folder), checked.
    fn dir(&self, prefix: &str) -> Result<PathBuf> {
        let prefix = prefix.trim_end_matches('/');
        check_key(prefix, true)?;
        Ok(self.root.join(prefix))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// Whether `pre` holds for the object at `path` now.
    fn check(&self, path: &Path, pre: &Precondition) -> Result<bool> {
        Ok(match pre {
            Precondition::Any => true,
            Precondition::Absent => !exists(path)?,
            Precondition::Unchanged(rev) => revision_of(path)?.as_ref() == Some(rev),
        })
    }

    fn sync_now(&self, durability: Durability) -> bool {
        let deferred = durability == Durability::Deferred && rfs::CAN_SYNC_FILESYSTEM;
        if deferred {
            self.deferred.store(true, Ordering::Relaxed);
        }
        !deferred
    }

    fn make_parent(&self, path: &Path, sync: bool) -> Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        if sync {
            rfs::create_dirs(dir)
        } else {
            rfs::create_dirs_unsynced(dir)
        }
    }
}

/// `inode-size-mtime` of the file at `path`, `None` if there is none.
fn revision_of(path: &Path) -> Result<Option<Revision>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(revision(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn revision(m: &std::fs::Metadata) -> Revision {
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let ino = 0;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Revision(format!("{ino:x}-{:x}-{mtime:x}", m.len()))
}

fn exists(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn whole_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The mtime a rewrite of a file last modified at `old` must get so that its
/// whole-second mtime differs from `old`'s and later than it, never more than a second
/// ahead of the clock: `None` to keep the natural mtime (now). Sleeps when the
/// old mtime is itself ahead (two rewrites within one second).
fn next_mtime(old: SystemTime) -> Option<SystemTime> {
    let old = whole_seconds(old);
    let mut now = SystemTime::now();
    if whole_seconds(now) > old {
        return None;
    }
    let target = old + 1;
    // Ahead by more than a second: wait until `target` is at most one second away.
    if target > whole_seconds(now) + 1 && target <= whole_seconds(now) + 3 {
        let wait_until = UNIX_EPOCH + Duration::from_secs(target - 1);
        if let Ok(d) = wait_until.duration_since(now) {
            std::thread::sleep(d);
        }
        now = SystemTime::now();
        if whole_seconds(now) > old {
            return None;
        }
    }
    Some(UNIX_EPOCH + Duration::from_secs(target))
}

/// Gives a temp file about to replace `path` its mtime (see [`next_mtime`]).
fn set_next_mtime(tmp: &tempfile::NamedTempFile, path: &Path) -> Result<()> {
    if let Some(old) = std::fs::metadata(path).ok().and_then(|m| m.modified().ok())
        && let Some(t) = next_mtime(old)
    {
        tmp.as_file()
            .set_modified(t)
            .map_err(|e| Error::io("set the time of", tmp.path().to_path_buf(), e))?;
    }
    Ok(())
}

#[derive(Debug)]
struct FileLock(#[allow(dead_code)] Lock);
impl LockGuard for FileLock {}

impl Storage for LocalStorage {
    /// Where `key` is, for messages (never touched: not checked).
    fn locate(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }

    fn init(&self) -> Result<()> {
        rfs::create_dirs(&self.tmp_dir())?;
        rfs::create_dirs(&self.root.join(CRATES_DIR))
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn get(&self, key: &str) -> Result<Option<Object>> {
        let path = self.path(key)?;
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io("read", &path, e))?;
        if meta.is_dir() {
            return Err(Error::io(
                "read",
                path,
                std::io::ErrorKind::IsADirectory.into(),
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &path, e))?;
        Ok(Some(Object {
            bytes,
            revision: revision(&meta),
        }))
    }

    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        let path = self.path(key)?;
        match std::fs::File::open(&path) {
            Ok(f) => Ok(Some(Box::new(f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("open", path, e)),
        }
    }

    fn stat(&self, key: &str) -> Result<Option<Meta>> {
        let path = self.path(key)?;
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(Meta {
                size: m.len(),
                modified: m.modified().ok(),
                revision: revision(&m),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    fn put(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        let path = self.path(key)?;
        if !self.check(&path, pre)? {
            return Ok(Outcome::Conflict);
        }
        let sync = self.sync_now(durability);
        let tmp = if kind == ObjectKind::Secret {
            rfs::write_secret_temp(&path, bytes, sync)?
        } else {
            rfs::write_temp(&path, bytes, sync)?
        };
        self.publish_temp(tmp, &path, kind, pre, sync)
    }

    fn staging_file(&self) -> Result<tempfile::NamedTempFile> {
        rfs::locked_staging_file(&self.tmp_dir(), "add-", true)
    }

    fn stage(
        &self,
        key: &str,
        bytes: &[u8],
        kind: ObjectKind,
        durability: Durability,
    ) -> Result<Staged> {
        // A secret keeps its own mode rules: written whole when put.
        if kind == ObjectKind::Secret {
            check_key(key, false)?;
            return Ok(Staged::Bytes(bytes.to_vec()));
        }
        let path = self.path(key)?;
        let sync = self.sync_now(durability);
        Ok(Staged::File(rfs::write_temp(&path, bytes, sync)?))
    }

    fn put_staged(
        &self,
        key: &str,
        staged: Staged,
        kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        let tmp = match staged {
            Staged::Bytes(bytes) => return self.put(key, &bytes, kind, pre, durability),
            Staged::File(tmp) => tmp,
        };
        let path = self.path(key)?;
        if !self.check(&path, pre)? {
            return Ok(Outcome::Conflict);
        }
        let sync = self.sync_now(durability);
        self.publish_temp(tmp, &path, kind, pre, sync)
    }

    fn staging_done(&self, file: &tempfile::NamedTempFile) {
        rfs::start_writeback(file.as_file());
    }

    fn put_file(
        &self,
        key: &str,
        file: tempfile::NamedTempFile,
        _kind: ObjectKind,
        pre: &Precondition,
        durability: Durability,
    ) -> Result<Outcome> {
        let path = self.path(key)?;
        if !self.check(&path, pre)? {
            return Ok(Outcome::Conflict);
        }
        let sync = self.sync_now(durability);
        if sync {
            rfs::finish_file(&file)?;
        } else {
            rfs::set_file_mode(&file)?;
        }
        self.make_parent(&path, sync)?;
        self.finish(file, &path, pre, sync)
    }

    fn delete(&self, key: &str, pre: &Precondition) -> Result<Outcome> {
        let path = self.path(key)?;
        if !self.check(&path, pre)? {
            return Ok(Outcome::Conflict);
        }
        rfs::remove_file(&path)?;
        // Folders the delete left empty go too (not the root's own folders).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || d.parent() == Some(&self.root) && d.ends_with("crates") {
                break;
            }
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            rfs::sync_dir(d.parent().unwrap_or(&self.root))?;
            dir = d.parent();
        }
        Ok(Outcome::Done)
    }

    fn rename(&self, from: &str, to: &str, _kind: ObjectKind) -> Result<()> {
        let (from, to) = (self.path(from)?, self.path(to)?);
        self.make_parent(&to, true)?;
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            // One side in a linked folder on another file system: copy into a
            // temp file beside the target, rename that, then delete the original.
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                let mut src =
                    std::fs::File::open(&from).map_err(|e| Error::io("read", &from, e))?;
                let dir = to.parent().unwrap_or(&self.root);
                let mut tmp = tempfile::Builder::new()
                    .prefix(rfs::TEMP_PREFIX)
                    .tempfile_in(dir)
                    .map_err(|e| Error::io("create a temporary file in", dir, e))?;
                std::io::copy(&mut src, tmp.as_file_mut())
                    .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
                rfs::finish_file(&tmp)?;
                rfs::rename_into(tmp, &to)?;
                rfs::sync_dir(dir)?;
                rfs::remove_file(&from)?;
            }
            Err(e) => return Err(Error::io("move", &from, e)),
        }
        rfs::ensure_file_mode(&to)?;
        rfs::sync_dir(to.parent().unwrap_or(&self.root))?;
        rfs::sync_dir(from.parent().unwrap_or(&self.root))
    }

    fn same_object(&self, a: &str, b: &str) -> Result<bool> {
        let real = |key: &str| {
            let path = self.path(key)?;
            std::fs::canonicalize(&path).map_err(|e| Error::io("read", path, e))
        };
        Ok(real(a)? == real(b)?)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let start = self.dir(prefix)?;
        let mut out = Vec::new();
        let walker = walkdir::WalkDir::new(&start)
            .min_depth(1)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                // Gone while listing (a temp file renamed), or a link loop.
                Err(e)
                    if e.loop_ancestor().is_some()
                        || e.io_error()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
                {
                    continue;
                }
                Err(e) => {
                    let p = e.path().map_or_else(|| start.clone(), Path::to_path_buf);
                    return Err(Error::io("list", p, e.into()));
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                match rel.to_str() {
                    Some(key) => out.push(key.replace('\\', "/")),
                    None => {
                        self.unreadable
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(entry.path().display().to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = self.dir(prefix)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Links to folders count (followed like every listing here).
            if !name.starts_with('.') && entry.path().is_dir() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    fn barrier(&self) -> Result<()> {
        if self.deferred.swap(false, Ordering::Relaxed) {
            rfs::sync_filesystem(&self.root)?;
        }
        Ok(())
    }

    /// `flock` on `.regtool/lock` (`lease` is for object storage).
    fn lock(
        &self,
        mode: LockMode,
        _lease: Duration,
        events: &dyn LockEvents,
    ) -> Result<Box<dyn LockGuard>> {
        let lock = Lock::acquire(
            &self.root.join(LOCK_KEY),
            mode == LockMode::Shared,
            events.patience(),
            |p| events.waiting(Waiting::FileLock(p)),
            |p, e| events.unsupported(p, e),
        )?;
        Ok(Box::new(FileLock(lock)))
    }

    fn clean_temp(&self, max_age: Duration, beside_published: bool) -> Result<usize> {
        let mut removed = 0;
        if beside_published {
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
        }
        removed += rfs::sweep_staging(&self.tmp_dir(), "", max_age, true)?;
        Ok(removed)
    }

    fn unreadable_keys(&self) -> Vec<String> {
        self.unreadable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn fix_published(&self, key: &str, _kind: ObjectKind) -> Result<()> {
        rfs::ensure_file_mode(&self.path(key)?)
    }
}

impl LocalStorage {
    /// Puts the finished temp file `tmp` of an object of `kind` at `path`
    /// ([`Storage::put`] and [`Storage::put_staged`]): gives it the mtime
    /// the kind needs, then [`LocalStorage::finish`].
    fn publish_temp(
        &self,
        tmp: tempfile::NamedTempFile,
        path: &Path,
        kind: ObjectKind,
        pre: &Precondition,
        sync: bool,
    ) -> Result<Outcome> {
        // What cargo revalidates by `Last-Modified`/`ETag` (whole seconds) must
        // show every rewrite; a catalogue file rewritten within the second
        // keeps its natural time (waiting here would make every quick second
        // change wait a second for the shared search data and feed; its size
        // almost always changes the `ETag` anyway, and the next change fixes it).
        // `.crate` files are never rewritten, and secrets are never served.
        if matches!(kind, ObjectKind::Index | ObjectKind::Config) {
            set_next_mtime(&tmp, path)?;
        }
        self.finish(tmp, path, pre, sync)
    }

    /// Renames a finished temp file to `path` (never over an existing file when
    /// `pre` is [`Precondition::Absent`]), fsyncing the folder when `sync`.
    fn finish(
        &self,
        tmp: tempfile::NamedTempFile,
        path: &Path,
        pre: &Precondition,
        sync: bool,
    ) -> Result<Outcome> {
        if *pre == Precondition::Absent {
            match tmp.persist_noclobber(path) {
                Ok(_) => {}
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Ok(Outcome::Conflict);
                }
                // Another file system (hard links refused, say): the lock
                // already keeps writers apart, so a checked rename will do.
                Err(e) => {
                    if exists(path)? {
                        return Ok(Outcome::Conflict);
                    }
                    rfs::rename_into(e.file, path)?;
                }
            }
        } else {
            rfs::rename_into(tmp, path)?;
        }
        if sync {
            rfs::sync_dir(path.parent().unwrap_or(&self.root))?;
        }
        Ok(Outcome::Done)
    }
}
