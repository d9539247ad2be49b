//! Reading a `.crate` file in one streaming pass: the SHA-256 `cksum` of the
//! whole file, a safe walk over every tar entry (the whole gzip stream is inflated
//! and checked; the file is one gzip member and ends with it), the packaged
//! `Cargo.toml`, and optionally a copy of the bytes.
//!
//! Memory stays flat whatever the crate size: only `Cargo.toml` (and small
//! READMEs) are kept. The tarball rules crates.io keeps: only regular files
//! and folders, all under `{name}-{version}/`, no `..` or absolute path, sizes
//! capped ([`Limits`]); the manifest's name and version must match the folder
//! (checked by [`crate::reader`]). Floor 1 (`input`): imports the core only.
//! Source: <https://doc.rust-lang.org/cargo/reference/registry-index.html> (`cksum`).

use crate::error::{CrateProblem, Error, Result};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Size caps applied while reading a `.crate`, all in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `.crate` file.
    pub max_crate_size: u64,
    /// Largest total size of the inflated tar stream.
    pub max_unpacked_size: u64,
    /// Largest `Cargo.toml`.
    pub max_manifest_size: u64,
}

/// Default cap on `Cargo.toml`: 10 MiB (crates.io's manifests are far smaller).
pub(crate) const DEFAULT_MAX_MANIFEST_SIZE: u64 = 10 * 1024 * 1024;

impl Limits {
    /// The limits for a `.crate` already in a registry: its bytes were accepted
    /// (perhaps under a raised limit, or before the limit was lowered), so only
    /// the manifest cap applies. Memory stays flat whatever the size.
    pub(crate) fn stored() -> Limits {
        Limits {
            max_crate_size: u64::MAX,
            max_unpacked_size: u64::MAX,
            max_manifest_size: DEFAULT_MAX_MANIFEST_SIZE,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_crate_size: crate::config::DEFAULT_MAX_CRATE_SIZE,
            max_unpacked_size: crate::config::DEFAULT_MAX_UNPACKED_SIZE,
            max_manifest_size: DEFAULT_MAX_MANIFEST_SIZE,
        }
    }
}

/// What one pass over a `.crate` yields.
#[derive(Debug, Clone)]
pub struct CrateContents {
    /// Lowercase hex SHA-256 of the whole file.
    pub cksum: String,
    /// File size in bytes.
    pub size: u64,
    /// The archive's top folder (should be `{name}-{version}`).
    pub(crate) top: String,
    /// The bytes of `{top}/Cargo.toml`.
    pub manifest: Vec<u8>,
    /// Files that may be the crate's README, for the catalogue: path inside
    /// `{top}/` and bytes. Only files named `readme*` (any case, at most
    /// [`README_DEPTH`] folders deep) or `*.md` at the top, each at most
    /// [`MAX_README_SIZE`] bytes, at most [`MAX_READMES`] of them.
    pub(crate) readmes: Vec<(String, Vec<u8>)>,
}

/// README candidates: path inside the package and bytes.
type Readmes = Vec<(String, Vec<u8>)>;

/// Largest README kept for the catalogue, in bytes (512 KiB).
pub(crate) const MAX_README_SIZE: u64 = 512 * 1024;
/// Most README candidates kept from one `.crate`.
pub(crate) const MAX_READMES: usize = 8;
/// Deepest folder (below the top one) a README candidate is taken from.
pub(crate) const README_DEPTH: usize = 2;

/// Whether the file at `parts` (the entry path split at `/`, the top folder
/// first) may be a README (see [`CrateContents::readmes`]).
fn readme_candidate(parts: &[&str]) -> bool {
    let Some(file) = parts.last() else {
        return false;
    };
    let lower = file.to_ascii_lowercase();
    (lower.starts_with("readme") && parts.len() <= README_DEPTH + 2)
        || (parts.len() == 2 && lower.ends_with(".md"))
}

/// Marker carried inside `io::Error`s raised by our reader wrappers, so the walk
/// can tell a limit or a failed copy from a corrupt stream.
#[derive(Debug)]
enum Stop {
    CrateTooLarge,
    UnpackedTooLarge,
    ReadFailed(io::Error),
    CopyFailed(io::Error),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for Stop {}

fn stop(s: Stop) -> io::Error {
    io::Error::other(s)
}

/// Reads the file, hashing every byte and teeing it into `copy`.
struct Source<'a, R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    limit: u64,
    copy: Option<&'a mut dyn Write>,
}

impl<R: Read> Read for Source<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .map_err(|e| stop(Stop::ReadFailed(e)))?;
        self.size += n as u64;
        if self.size > self.limit {
            return Err(stop(Stop::CrateTooLarge));
        }
        self.hasher.update(&buf[..n]);
        if let Some(w) = self.copy.as_mut() {
            w.write_all(&buf[..n])
                .map_err(|e| stop(Stop::CopyFailed(e)))?;
        }
        Ok(n)
    }
}

/// Counts inflated bytes and stops at the limit.
///
/// It is also the tar reader's [`Seek`], forward only: tar skips what the
/// walk does not read (file contents, padding) by seeking, and a forward seek
/// here consumes the bytes from the inner buffer without copying them out.
/// They are inflated, counted against the limit and checked (CRC at the end)
/// all the same; what tar's own skip would copy into a zeroed scratch buffer
/// is left in place. A skip past the end fails as tar's does ("unexpected
/// EOF during skip"); an entry size beyond `i64::MAX` bytes, which tar's own
/// skip would read up to the end or the limit, is refused by tar at once
/// ("seek position out of bounds").
struct Capped<R> {
    inner: R,
    count: u64,
    limit: u64,
}

impl<R> Capped<R> {
    fn add(&mut self, n: usize) -> io::Result<()> {
        self.count += n as u64;
        if self.count > self.limit {
            return Err(stop(Stop::UnpackedTooLarge));
        }
        Ok(())
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.add(n)?;
        Ok(n)
    }
}

impl<R: BufRead> Capped<R> {
    /// Inflates (and counts) everything left, without copying it out.
    fn drain(&mut self) -> io::Result<()> {
        loop {
            let n = self.inner.fill_buf()?.len();
            if n == 0 {
                return Ok(());
            }
            self.inner.consume(n);
            self.add(n)?;
        }
    }
}

impl<R: BufRead> Seek for Capped<R> {
    /// Only `SeekFrom::Current(n)` with `n >= 0` (what tar's skip asks for);
    /// returns the new position, the count of bytes passed so far.
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(delta) = pos else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the tar stream only moves forward",
            ));
        };
        let mut left = u64::try_from(delta).map_err(|_| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "the tar stream only moves forward",
            )
        })?;
        while left > 0 {
            let available = self.inner.fill_buf()?.len();
            if available == 0 {
                return Err(io::Error::other("unexpected EOF during skip"));
            }
            let n = usize::try_from(left).map_or(available, |l| l.min(available));
            self.inner.consume(n);
            self.add(n)?;
            left -= n as u64;
        }
        Ok(self.count)
    }
}

/// Bytes of inflated tar read ahead at a time: the decoder fills this buffer in
/// one call (a few calls per crate instead of one per tar header or 32 KiB
/// skip), and tar's headers and the kept files are read out of it.
const INFLATE_BUFFER: usize = 256 * 1024;

/// Reads and checks the `.crate` at `path` in one pass (see the module docs),
/// writing a copy of its bytes to `copy` if given.
///
/// # Errors
/// [`Error::Crate`] with the broken rule: [`CrateProblem::NotGzip`],
/// [`CrateProblem::Corrupt`], [`CrateProblem::TooLarge`],
/// [`CrateProblem::UnpackedTooLarge`], [`CrateProblem::NoManifest`],
/// [`CrateProblem::ManifestTooLarge`], [`CrateProblem::EntryOutside`],
/// [`CrateProblem::BadEntryType`], [`CrateProblem::NonUtf8Path`],
/// [`CrateProblem::RootFile`], [`CrateProblem::DuplicateManifest`],
/// [`CrateProblem::TrailingData`];
/// [`Error::Io`] if the file cannot be read or the copy cannot be written.
#[allow(clippy::disallowed_methods)] // an input file, not the registry
pub fn read_crate(
    path: &Path,
    limits: &Limits,
    copy: Option<&mut dyn Write>,
) -> Result<CrateContents> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("read", path, e))?;
    if meta.is_file() && meta.len() > limits.max_crate_size {
        return Err(Error::krate(
            path,
            CrateProblem::TooLarge {
                size: meta.len(),
                limit: limits.max_crate_size,
            },
        ));
    }
    read_crate_from(file, path, limits, copy)
}

/// [`read_crate`] on bytes from any reader (a stored `.crate` in a registry's
/// storage); `path` names it in errors.
///
/// # Errors
/// As [`read_crate`].
pub(crate) fn read_crate_from(
    reader: impl Read,
    path: &Path,
    limits: &Limits,
    copy: Option<&mut dyn Write>,
) -> Result<CrateContents> {
    read_skipping(reader, path, limits, copy, Skip::Seek)
}

fn read_skipping(
    reader: impl Read,
    path: &Path,
    limits: &Limits,
    copy: Option<&mut dyn Write>,
    skip: Skip,
) -> Result<CrateContents> {
    let mut source = Source {
        inner: reader,
        hasher: Sha256::new(),
        size: 0,
        limit: limits.max_crate_size,
        copy,
    };
    let walked = walk(&mut source, limits, skip);
    let (top, manifest, readmes) = match walked {
        Ok(v) => v,
        Err(e) => return Err(classify(path, e, source.size, limits)),
    };
    Ok(CrateContents {
        cksum: hex(&source.hasher.finalize()),
        size: source.size,
        top,
        manifest,
        readmes,
    })
}

/// Lowercase hex of `bytes`, as index `cksum` fields are written.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Lowercase hex SHA-256 of everything `reader` yields, streamed (what `cksum`
/// must be).
///
/// # Errors
/// The I/O error.
pub(crate) fn sha256(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// A failure inside the walk: a rule broken, or an I/O error from the stream.
enum WalkError {
    Problem(CrateProblem),
    Io(io::Error),
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> Self {
        WalkError::Io(e)
    }
}

fn classify(path: &Path, e: WalkError, size: u64, limits: &Limits) -> Error {
    let io = match e {
        WalkError::Problem(p) => return Error::krate(path, p),
        WalkError::Io(io) => io,
    };
    // Find our marker anywhere in the error (tar wraps errors in its own).
    let mut marker: Option<&Stop> = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&io);
    while let Some(err) = cur {
        if let Some(s) = err.downcast_ref::<Stop>() {
            marker = Some(s);
            break;
        }
        if let Some(ioe) = err.downcast_ref::<io::Error>()
            && let Some(inner) = ioe.get_ref()
            && let Some(s) = inner.downcast_ref::<Stop>()
        {
            marker = Some(s);
            break;
        }
        cur = err.source();
    }
    match marker {
        Some(Stop::CrateTooLarge) => Error::krate(
            path,
            CrateProblem::TooLarge {
                size,
                limit: limits.max_crate_size,
            },
        ),
        Some(Stop::UnpackedTooLarge) => Error::krate(
            path,
            CrateProblem::UnpackedTooLarge {
                limit: limits.max_unpacked_size,
            },
        ),
        Some(Stop::ReadFailed(e)) => {
            Error::io("read", path, io::Error::new(e.kind(), e.to_string()))
        }
        Some(Stop::CopyFailed(e)) => Error::io(
            "write a copy of",
            path,
            io::Error::new(e.kind(), e.to_string()),
        ),
        None => {
            let msg = if io.kind() == io::ErrorKind::UnexpectedEof {
                "the file ends early (truncated download?)".to_string()
            } else {
                io.to_string()
            };
            Error::krate(path, CrateProblem::Corrupt(msg))
        }
    }
}

/// How the walk passes over what it does not read (file contents, padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// By a forward [`Seek`] of [`Capped`]: no copy (what regtool does).
    Seek,
    /// By tar's own skip, reading into a scratch buffer: the reference the
    /// tests hold [`Skip::Seek`] to.
    #[cfg_attr(not(test), allow(dead_code))]
    Read,
}

fn walk<R: Read>(
    source: &mut Source<'_, R>,
    limits: &Limits,
    skip: Skip,
) -> std::result::Result<(String, Vec<u8>, Readmes), WalkError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, source);
    let head = buffered.fill_buf()?;
    if head.len() < 2 || head[0] != 0x1f || head[1] != 0x8b {
        return Err(WalkError::Problem(CrateProblem::NotGzip));
    }
    let gz = flate2::bufread::GzDecoder::new(buffered);
    let capped = Capped {
        inner: BufReader::with_capacity(INFLATE_BUFFER, gz),
        count: 0,
        limit: limits.max_unpacked_size,
    };
    let mut archive = tar::Archive::new(capped);
    let mut top: Option<String> = None;
    let mut manifest: Option<Vec<u8>> = None;
    let mut readmes = Vec::new();
    let entries = match skip {
        Skip::Seek => archive.entries_with_seek()?,
        Skip::Read => archive.entries()?,
    };
    for entry in entries {
        let mut entry = entry?;
        let raw_path = entry.path_bytes().into_owned();
        let Ok(path) = String::from_utf8(raw_path.clone()) else {
            return Err(WalkError::Problem(CrateProblem::NonUtf8Path(
                String::from_utf8_lossy(&raw_path).into_owned(),
            )));
        };
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Directory => {}
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => {
                let kind = match other {
                    tar::EntryType::Symlink => "symlink",
                    tar::EntryType::Link => "hardlink",
                    tar::EntryType::Char => "character device",
                    tar::EntryType::Block => "block device",
                    tar::EntryType::Fifo => "fifo",
                    _ => "special entry",
                };
                return Err(WalkError::Problem(CrateProblem::BadEntryType {
                    entry: path,
                    kind,
                }));
            }
        }
        let parts = check_path(&path)?;
        // Old (pre-POSIX) headers mark a folder by a trailing `/` on a regular
        // entry; tar-rs, and so cargo, unpacks it as a folder.
        let is_folder = kind == tar::EntryType::Directory
            || (path.ends_with('/') && entry.header().as_ustar().is_none());
        if parts.len() == 1 && !is_folder {
            // cargo unpacks into `{name}-{version}/`: a file there (or anywhere at
            // the root) leaves no folder to unpack into.
            return Err(WalkError::Problem(CrateProblem::RootFile(path)));
        }
        let first = parts[0];
        match &top {
            None => top = Some(first.to_string()),
            Some(t) if t != first => {
                return Err(WalkError::Problem(CrateProblem::EntryOutside(path)));
            }
            Some(_) => {}
        }
        if !is_folder && parts.len() == 2 && parts[1] == "Cargo.toml" {
            let size = entry.header().size().unwrap_or(u64::MAX);
            if size > limits.max_manifest_size {
                return Err(WalkError::Problem(CrateProblem::ManifestTooLarge {
                    size,
                    limit: limits.max_manifest_size,
                }));
            }
            let mut buf = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(limits.max_manifest_size + 1)
                .read_to_end(&mut buf)?;
            match &manifest {
                None => manifest = Some(buf),
                // cargo of 2015 packaged `Cargo.toml` twice, byte for byte:
                // whichever copy cargo unpacks last, it is the one read.
                Some(first) if *first == buf => {}
                // cargo unpacks entry by entry, so the last copy would win on
                // disk while the index line came from the first.
                Some(_) => return Err(WalkError::Problem(CrateProblem::DuplicateManifest(path))),
            }
        } else if !is_folder
            && readmes.len() < MAX_READMES
            && readme_candidate(&parts)
            && entry.header().size().is_ok_and(|s| s <= MAX_README_SIZE)
            // Other `.md` files only while they leave room for a `readme*`.
            && (parts[parts.len() - 1].to_ascii_lowercase().starts_with("readme")
                || readmes.len() < MAX_READMES / 2)
        {
            let mut buf = Vec::new();
            (&mut entry).take(MAX_README_SIZE).read_to_end(&mut buf)?;
            readmes.push((parts[1..].join("/"), buf));
        }
    }
    // Inflate to the end of the gzip member (checks its CRC and length). The
    // file must end there: cargo reads one member, while `tar -xzf` and Python
    // read on into a second one and would unpack other files.
    let mut capped = archive.into_inner();
    capped.drain()?;
    let mut rest = capped.inner.into_inner().into_inner();
    if !rest.fill_buf()?.is_empty() {
        return Err(WalkError::Problem(CrateProblem::TrailingData));
    }
    let Some(manifest) = manifest else {
        return Err(WalkError::Problem(CrateProblem::NoManifest(top)));
    };
    Ok((top.unwrap_or_default(), manifest, readmes))
}

/// Splits an entry path into components, refusing absolute paths, `..`, `.` and
/// empty components (a trailing `/` on folders is allowed).
fn check_path(path: &str) -> std::result::Result<Vec<&str>, WalkError> {
    let outside = || WalkError::Problem(CrateProblem::EntryOutside(path.to_string()));
    if path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        return Err(outside());
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(outside());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tar of `{top}/Cargo.toml`, a README and files of the given sizes.
    fn tar_of(sizes: &[usize]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).expect("tar in memory");
        };
        add(
            "a-1.0.0/Cargo.toml",
            b"[package]\nname = \"a\"\nversion = \"1.0.0\"\n",
        );
        add("a-1.0.0/README.md", b"# a\n");
        for (i, n) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..*n).map(|j| (i * 31 + j * 7) as u8).collect();
            add(&format!("a-1.0.0/src/f{i}.rs"), &data);
        }
        b.into_inner().expect("tar in memory")
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).expect("gzip in memory");
        gz.finish().expect("gzip in memory")
    }

    /// What a read comes to, comparable across the two ways of skipping.
    fn outcome(bytes: &[u8], limits: &Limits, skip: Skip) -> std::result::Result<String, String> {
        let mut copy = Vec::new();
        let r = read_skipping(bytes, Path::new("x.crate"), limits, Some(&mut copy), skip);
        match r {
            Ok(c) => {
                assert_eq!(copy, bytes);
                Ok(format!(
                    "{} {} {} {:?} {:?}",
                    c.cksum, c.size, c.top, c.manifest, c.readmes
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    proptest! {
        /// Skipping by a forward seek accepts and refuses exactly what tar's
        /// own skip does, with the same result: on whole archives, archives
        /// cut anywhere (inside a skipped file, its padding, a header),
        /// bytes overwritten anywhere (sizes, types, checksums), and under an
        /// unpacked-size limit that cuts the stream short.
        #[test]
        fn seeking_past_contents_is_reading_past_them(
            sizes in proptest::collection::vec(0usize..3000, 0..5),
            cut in proptest::option::of(any::<prop::sample::Index>()),
            poke in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
            limit in proptest::option::of(0u64..16384),
        ) {
            let mut tar = tar_of(&sizes);
            if let Some((at, byte)) = poke {
                let i = at.index(tar.len());
                tar[i] = byte;
            }
            if let Some(cut) = cut {
                tar.truncate(cut.index(tar.len()));
            }
            let limits = Limits {
                max_unpacked_size: limit.unwrap_or(u64::MAX),
                ..Limits::default()
            };
            let bytes = gzip(&tar);
            prop_assert_eq!(
                outcome(&bytes, &limits, Skip::Seek),
                outcome(&bytes, &limits, Skip::Read)
            );
        }
    }

    #[test]
    fn a_tar_cut_inside_a_skipped_file_is_refused_as_tar_refuses_it() {
        let tar = tar_of(&[5000]);
        let cut = &tar[..tar.len() - 1024 - 2000];
        let err = outcome(&gzip(cut), &Limits::default(), Skip::Seek).unwrap_err();
        assert!(err.contains("unexpected EOF during skip"), "{err}");
        let whole = outcome(&gzip(&tar), &Limits::default(), Skip::Seek);
        assert!(whole.is_ok(), "{whole:?}");
    }

    #[test]
    fn paths_are_checked() {
        assert!(check_path("a-1.0.0/src/lib.rs").is_ok());
        assert!(check_path("a-1.0.0/").is_ok());
        assert!(check_path("/etc/passwd").is_err());
        assert!(check_path("a-1.0.0/../x").is_err());
        assert!(check_path("./a-1.0.0/x").is_err());
        assert!(check_path("a-1.0.0//x").is_err());
    }
}
