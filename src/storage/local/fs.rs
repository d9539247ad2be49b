//! File-system primitives that never leave a half-written file: atomic writes
//! (temp file in the same folder, fsync, rename, fsync the folder, mode 0644)
//! and the registry's exclusive lock. Floor 2 (`storage`): the folder
//! backend's own primitives, used by [`super`] only.

// The file-system layer itself.
#![allow(clippy::disallowed_methods)]

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Mode of every file regtool publishes: readable by the web server whatever the umask.
pub(crate) const FILE_MODE: u32 = 0o644;
/// Mode of every folder regtool creates.
pub(crate) const DIR_MODE: u32 = 0o755;

/// Writes `bytes` to a finished temp file beside `path` (mode 0644, fsynced if
/// `sync`), ready for [`rename_into`]. Creates missing parent folders; with
/// `sync` false their parents are not fsynced either (the caller syncs the
/// whole file system, see [`sync_filesystem`]).
///
/// # Errors
/// [`Error::Io`] naming the file or folder that failed.
pub(crate) fn write_temp(path: &Path, bytes: &[u8], sync: bool) -> Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    make_dirs(dir, sync)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    // Created with its final mode when the umask leaves it whole: no
    // `fchmod` afterwards.
    let born_final = umask_keeps(FILE_MODE);
    #[cfg(unix)]
    if born_final {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(FILE_MODE));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    if !born_final {
        set_mode(tmp.as_file(), tmp.path())?;
    }
    if sync {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
    }
    Ok(tmp)
}

/// Whether the process's umask leaves every bit of `mode` alone, so that a
/// file or folder created with `mode` has exactly `mode` from its creation
/// on, and needs no `chmod` (Linux: the `Umask` line of `/proc/self/status`,
/// read once; regtool never changes its umask). `false` where the umask
/// cannot be read, or elsewhere than Linux: the caller then sets the mode
/// itself, as under a umask that narrows it (`077`).
fn umask_keeps(mode: u32) -> bool {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    UMASK.get_or_init(read_umask).is_some_and(|m| m & mode == 0)
}

/// The process's umask, from `/proc/self/status` (Linux 4.7 and later).
fn read_umask() -> Option<u32> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(value.trim(), 8).ok()
}

/// Mode of a secret regtool writes (the token file): its owner's only.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// Mode of a secret whose group may read it (the web server's group).
pub(crate) const SECRET_GROUP_MODE: u32 = 0o640;

/// Like [`write_temp`] for a secret: the temp file is mode [`SECRET_MODE`] from
/// its creation on (before any byte is written), or [`SECRET_GROUP_MODE`] with
/// the group of the file now at `path` when that file is group-readable (an
/// admin gave it to the web server's group with `chgrp www-data` and
/// `chmod 640`; a rewrite keeps that). Never readable by others. When the
/// group cannot be kept (the user is not in it), the new file is mode 0600.
///
/// # Errors
/// [`Error::Io`] naming the file or folder that failed.
pub(crate) fn write_secret_temp(
    path: &Path,
    bytes: &[u8],
    sync: bool,
) -> Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    make_dirs(dir, sync)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(SECRET_MODE));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // The umask may have narrowed the mode; set it exactly.
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(SECRET_MODE))
            .map_err(|e| Error::io("set permissions of", tmp.path().to_path_buf(), e))?;
        if let Ok(old) = fs::metadata(path)
            && old.mode() & 0o040 != 0
            && std::os::unix::fs::fchown(tmp.as_file(), None, Some(old.gid())).is_ok()
        {
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(SECRET_GROUP_MODE))
                .map_err(|e| Error::io("set permissions of", tmp.path().to_path_buf(), e))?;
        }
    }
    tmp.write_all(bytes)
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    if sync {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
    }
    Ok(tmp)
}

/// Whether [`sync_filesystem`] is available: bulk operations then make a batch
/// durable with one file-system sync instead of an fsync per file and folder.
pub(crate) const CAN_SYNC_FILESYSTEM: bool = cfg!(target_os = "linux");

/// Flushes every written byte and rename of the file system that holds `path`
/// (Linux `syncfs`): after it returns, all earlier writes there are durable.
///
/// # Errors
/// [`Error::Io`] naming `path`; an `Unsupported` error where
/// [`CAN_SYNC_FILESYSTEM`] is false.
pub(crate) fn sync_filesystem(path: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        rustix::fs::syncfs(&f).map_err(|e| Error::io("sync the file system of", path, e.into()))
    }
    #[cfg(not(target_os = "linux"))]
    Err(Error::io(
        "sync the file system of",
        path,
        io::ErrorKind::Unsupported.into(),
    ))
}

/// Starts writing `file`'s dirty pages out to the disk and returns without
/// waiting (Linux: `posix_fadvise(POSIX_FADV_DONTNEED)`, which queues the
/// writeback of the whole file and leaves the pages that are still dirty or
/// being written in the page cache): a later `fsync` or `syncfs` then finds
/// the bytes on their way or on the disk already. Durability is unchanged:
/// only that `fsync` or `syncfs` makes them durable. Errors are ignored (a
/// file system without it waits for the sync, as before).
pub(crate) fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Sets mode 0644 on a temp file and fsyncs it, ready for [`rename_into`].
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn finish_file(tmp: &tempfile::NamedTempFile) -> Result<()> {
    set_mode(tmp.as_file(), tmp.path())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))
}

/// Sets mode 0644 on a temp file without fsyncing it (for batches made durable
/// by [`sync_filesystem`]).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn set_file_mode(tmp: &tempfile::NamedTempFile) -> Result<()> {
    set_mode(tmp.as_file(), tmp.path())
}

/// Renames a finished temp file (see [`finish_file`]) over `path`, without
/// fsyncing the folder: the caller fsyncs each folder once after a batch.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn rename_into(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    match tmp.persist(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == io::ErrorKind::CrossesDevices => {
            // `crates/` on another file system than `.regtool/tmp`: copy into a
            // temp file beside the target, then rename that.
            let mut src = e
                .file
                .reopen()
                .map_err(|err| Error::io("read", e.file.path().to_path_buf(), err))?;
            let dir = parent(path);
            let mut local = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .tempfile_in(dir)
                .map_err(|err| Error::io("create a temporary file in", dir, err))?;
            io::copy(&mut src, local.as_file_mut())
                .map_err(|err| Error::io("write", local.path().to_path_buf(), err))?;
            finish_file(&local)?;
            local
                .persist(path)
                .map(|_| ())
                .map_err(|err| Error::io("rename a temporary file to", path, err.error))
        }
        Err(e) => Err(Error::io("rename a temporary file to", path, e.error)),
    }
}

/// Removes `path` (if present) and fsyncs its folder.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(parent(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Creates `dir` and its missing parents with mode 0755 whatever the umask (the
/// web server must be able to enter them), fsyncing each parent. Where the
/// umask leaves mode 0755 whole (the usual `022`), each folder is made in
/// place with that mode; otherwise it is made under a temp name, given its
/// mode, then renamed into place. Either way a killed process never leaves a
/// folder with the umask's mode behind.
///
/// # Errors
/// [`Error::Io`] naming the folder.
pub(crate) fn create_dirs(dir: &Path) -> Result<()> {
    make_dirs(dir, true)
}

/// [`create_dirs`], fsyncing parents only if `sync`.
fn make_dirs(dir: &Path, sync: bool) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let parent = parent(dir);
    make_dirs(parent, sync)?;
    if umask_keeps(DIR_MODE) {
        // The folder is born with its mode: made in place, no temp name.
        return make_dir_in_place(dir, parent, sync);
    }
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = parent.join(format!("{TEMP_PREFIX}dir-{}-{n}", std::process::id()));
    fs::create_dir(&tmp).map_err(|e| Error::io("create the folder", &tmp, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = fs::set_permissions(&tmp, fs::Permissions::from_mode(DIR_MODE)) {
            let _ = fs::remove_dir(&tmp);
            return Err(Error::io("set permissions of", &tmp, e));
        }
    }
    if let Err(e) = rename_no_replace(&tmp, dir) {
        let _ = fs::remove_dir(&tmp);
        // Another process made it meanwhile: fine.
        if !dir.is_dir() {
            return Err(Error::io("create the folder", dir, e));
        }
    }
    // The new folder's entry must be durable too.
    if sync { sync_dir(parent) } else { Ok(()) }
}

/// Creates the folder `dir` (its parent is there) with mode [`DIR_MODE`],
/// which the umask leaves whole (see [`umask_keeps`]); one made meanwhile by
/// another thread or process is fine. Fsyncs `parent` if `sync`.
fn make_dir_in_place(dir: &Path, parent: &Path, sync: bool) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    match builder.create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(Error::io("create the folder", dir, e)),
    }
    if sync { sync_dir(parent) } else { Ok(()) }
}

/// [`create_dirs`] without fsyncing the parents: for batches made durable by
/// [`sync_filesystem`].
///
/// # Errors
/// [`Error::Io`] naming the folder.
pub(crate) fn create_dirs_unsynced(dir: &Path) -> Result<()> {
    make_dirs(dir, false)
}

/// Renames `from` to `to` unless `to` exists (Linux `renameat2(RENAME_NOREPLACE)`):
/// a plain rename would replace an empty folder another thread just made.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if to.exists() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        fs::rename(from, to)
    }
}

/// Prefix of every temp file and folder regtool makes inside a registry.
pub(crate) const TEMP_PREFIX: &str = ".regtool-tmp-";

/// Sets mode 0644 on a published file whose mode differs (a `.crate` copied in
/// by hand, then indexed by `reindex`).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn ensure_file_mode(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|e| Error::io("read", path, e))?
            .permissions()
            .mode();
        if mode & 0o777 != FILE_MODE {
            fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))
                .map_err(|e| Error::io("set permissions of", path, e))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// fsyncs a folder so that a rename or removal in it survives a crash.
///
/// # Errors
/// [`Error::Io`] naming the folder.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(d)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("sync the folder", d, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn set_mode(file: &File, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(|e| Error::io("set permissions of", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// An exclusive OS lock on a file (`flock`): released when dropped or when the
/// process dies, so a killed process never leaves a stale lock.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: Option<File>,
}

impl Lock {
    /// Takes the lock on `path` (created if missing), waiting for it if
    /// another process holds it: exclusive, or shared when `shared` is true
    /// (any number of readers hold it together, and none while a writer holds
    /// the exclusive lock, so `verify` sees the registry between two changes).
    /// `on_wait` is called once before waiting; with `patience`, the wait
    /// gives up after that long. Where the file system cannot
    /// lock (some NFS setups), or a reader cannot open the lock file (a
    /// read-only registry), `on_unsupported` is called once and the lock is
    /// skipped.
    ///
    /// # Errors
    /// [`Error::Io`] naming the lock file; [`Error::Lock`] when `patience`
    /// ran out.
    pub(crate) fn acquire(
        path: &Path,
        shared: bool,
        patience: Option<std::time::Duration>,
        on_wait: impl FnOnce(&Path),
        on_unsupported: impl FnOnce(&Path, &io::Error),
    ) -> Result<Lock> {
        let file = match fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            // A reader (`verify`) of a registry it cannot write (a read-only
            // mount, another user's files) goes on without the lock.
            Err(e)
                if shared
                    && matches!(
                        e.kind(),
                        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                    ) =>
            {
                on_unsupported(path, &e);
                return Ok(Lock { _file: None });
            }
            Err(e) => return Err(Error::io("open the lock file", path, e)),
        };
        let attempt = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match attempt {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                on_wait(path);
                match patience {
                    None => if shared {
                        file.lock_shared()
                    } else {
                        file.lock()
                    }
                    .map_err(|e| Error::io("lock", path, e))?,
                    Some(p) => wait_for_lock(&file, path, shared, p)?,
                }
            }
            Err(fs::TryLockError::Error(e)) if is_unsupported(&e) => {
                on_unsupported(path, &e);
                return Ok(Lock { _file: None });
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
        Ok(Lock { _file: Some(file) })
    }
}

/// Polls for the lock on `file` until it is taken or `patience` ran out.
fn wait_for_lock(
    file: &File,
    path: &Path,
    shared: bool,
    patience: std::time::Duration,
) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        let attempt = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
        let waited = start.elapsed();
        if waited >= patience {
            return Err(Error::Lock {
                path: path.to_path_buf(),
                message: format!(
                    "timed out after {} waiting for the file lock (--lock-timeout): another regtool is changing this registry; `fuser {}` shows which process",
                    crate::storage::show_patience(patience),
                    path.display()
                ),
            });
        }
        std::thread::sleep((patience - waited).min(std::time::Duration::from_millis(50)));
    }
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::Unsupported)
        || matches!(e.raw_os_error(), Some(code) if code == 38 /* ENOSYS */ || code == 95 /* EOPNOTSUPP */ || code == 37 /* ENOLCK */)
}

/// A new staging file named `prefix…` in `dir` (created with its parents if
/// `create_dir`), held with a shared `flock` for as long as it is open: the
/// mark [`sweep_staging`] reads as "a running regtool still uses this one",
/// so a sweep never removes a staging file a live `add` or `serve` is
/// filling or waiting to publish, however long it waits. The lock goes with
/// the file's last descriptor (drop, or the process's death).
///
/// # Errors
/// [`Error::Io`] naming `dir`.
pub(crate) fn locked_staging_file(
    dir: &Path,
    prefix: &str,
    create_dir: bool,
) -> Result<tempfile::NamedTempFile> {
    if create_dir {
        create_dirs(dir)?;
    }
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    // A file system without `flock` leaves the file unmarked: the sweep's
    // age rule alone then protects it.
    let _ = tmp.as_file().try_lock_shared();
    Ok(tmp)
}

/// Removes the staging files in `dir` (those named `prefix…`; all when
/// `prefix` is empty) that were last written more than `max_age` ago and
/// that no running process holds (see [`locked_staging_file`]): what a
/// killed `add` or `serve` left. Unless `ours` (the registry's own temp
/// folder), a file that cannot be removed (another user's, in the system's
/// temp folder) is left alone. Returns how many were removed; a missing
/// `dir` is none.
///
/// # Errors
/// [`Error::Io`] naming a file in `dir` that could not be removed (`ours`).
pub(crate) fn sweep_staging(
    dir: &Path,
    prefix: &str,
    max_age: std::time::Duration,
    ours: bool,
) -> Result<usize> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(0);
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for entry in entries.filter_map(|e| e.ok()) {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta.is_file()
            && meta
                .modified()
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > max_age);
        if !old {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {}
            // A running regtool holds it.
            Err(fs::TryLockError::WouldBlock) => continue,
            // No `flock` here: the age rule decides.
            Err(fs::TryLockError::Error(_)) => {}
        }
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if ours => return Err(Error::io("remove", &path, e)),
            Err(_) => {}
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `bytes` to `path` atomically, as the folder backend does.
    fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = write_temp(path, bytes, true)?;
        rename_into(tmp, path)?;
        sync_dir(parent(path))
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/file");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
        // no temp file left behind
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(p.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }
    }
}
