//! Building .crate files.

use super::*;

/// The minimal normalized Cargo.toml this test suite uses for a crate;
/// tests append further sections (`[dependencies.x]`, `[features]`, ...).
pub fn default_manifest(name: &str, version: &str) -> String {
    format!(
        "[package]\nedition = \"2021\"\nname = \"{name}\"\nversion = \"{version}\"\n\n[lib]\npath = \"src/lib.rs\"\n"
    )
}

/// Builds a well-formed `.crate` (a gzip'd tar whose entries all live under
/// `{name}-{version}/`), deterministically: same input, same bytes.
#[derive(Clone, Debug)]
pub struct CrateBuilder {
    name: String,
    version: String,
    manifest: Option<String>,
    files: Vec<(String, Vec<u8>)>,
    default_lib: bool,
}

impl CrateBuilder {
    pub fn new(name: &str, version: &str) -> Self {
        CrateBuilder {
            name: name.to_owned(),
            version: version.to_owned(),
            manifest: None,
            files: Vec::new(),
            default_lib: true,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Sets the full text of the packaged `Cargo.toml`.
    pub fn manifest(mut self, toml_text: impl Into<String>) -> Self {
        self.manifest = Some(toml_text.into());
        self
    }

    /// Uses [`default_manifest`] followed by `extra` (more TOML sections).
    pub fn manifest_extra(self, extra: &str) -> Self {
        let mut text = default_manifest(&self.name, &self.version);
        if !extra.is_empty() {
            text.push('\n');
            text.push_str(extra);
            if !extra.ends_with('\n') {
                text.push('\n');
            }
        }
        self.manifest(text)
    }

    /// Adds (or replaces) a file, path relative to the package root.
    pub fn file(mut self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        let contents = contents.as_ref().to_vec();
        if let Some(slot) = self.files.iter_mut().find(|(p, _)| p == path) {
            slot.1 = contents;
        } else {
            self.files.push((path.to_owned(), contents));
        }
        self
    }

    /// Do not add an empty `src/lib.rs` when none was given.
    pub fn without_default_lib(mut self) -> Self {
        self.default_lib = false;
        self
    }

    /// The manifest text that will be packaged.
    pub fn manifest_text(&self) -> String {
        self.manifest
            .clone()
            .unwrap_or_else(|| default_manifest(&self.name, &self.version))
    }

    /// The file name Cargo uses: `{name}-{version}.crate`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.crate", self.name, self.version)
    }

    /// The uncompressed tar.
    pub fn build_tar(&self) -> Vec<u8> {
        let prefix = format!("{}-{}", self.name, self.version);
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        entries.push(("Cargo.toml".to_owned(), self.manifest_text().into_bytes()));
        let mut has_lib = false;
        for (path, data) in &self.files {
            if path == "Cargo.toml" {
                // An explicit Cargo.toml file replaces the manifest.
                entries[0].1 = data.clone();
                continue;
            }
            has_lib |= path == "src/lib.rs";
            entries.push((path.clone(), data.clone()));
        }
        if !has_lib && self.default_lib {
            entries.push(("src/lib.rs".to_owned(), Vec::new()));
        }

        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            builder
                .append_data(&mut header, format!("{prefix}/{path}"), data.as_slice())
                .expect("append tar entry");
        }
        builder.into_inner().expect("finish tar")
    }

    /// The `.crate` bytes (gzip'd tar).
    pub fn build(&self) -> Vec<u8> {
        gzip(&self.build_tar())
    }

    /// Writes `{name}-{version}.crate` into `dir` (created if needed) and
    /// returns its path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        fs::create_dir_all(dir).expect("create crate output dir");
        let path = dir.join(self.file_name());
        fs::write(&path, self.build()).expect("write .crate");
        path
    }
}

/// `len` bytes that do not compress (an xorshift sequence), the same for the
/// same `len`: a `.crate` that holds them is about as big as they are, and a
/// cut in it lands inside the deflate stream.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Deterministic gzip (header mtime 0).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip finish")
}

/// A gzip member whose content is `prefix`, then `chunk` `count` times, then
/// `suffix`, built without compressing the repeats: after a full flush the
/// deflate state starts afresh, so every repeat of `chunk` compresses to the
/// same bytes, which are copied. CRC-32 and length are exact, so the result is a
/// valid gzip file (a bomb that inflates to GBs costs milliseconds to build).
pub fn gzip_repeating(prefix: &[u8], chunk: &[u8], count: u64, suffix: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, Crc, FlushCompress, Status};
    fn piece(c: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() / 4 + 4096);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(out.capacity().max(4096));
            }
            let before = c.total_in();
            let status = c
                .compress_vec(&input[pos..], &mut out, flush)
                .expect("deflate");
            pos += (c.total_in() - before) as usize;
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => pos == input.len() && out.len() < out.capacity(),
            };
            if done {
                return out;
            }
        }
    }
    let mut c = Compress::new(Compression::best(), false);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    out.extend(piece(&mut c, prefix, FlushCompress::Full));
    let first = piece(&mut c, chunk, FlushCompress::Full);
    let again = piece(&mut c, chunk, FlushCompress::Full);
    assert_eq!(
        first, again,
        "a repeat after a full flush must compress alike"
    );
    for _ in 0..count {
        out.extend_from_slice(&first);
    }
    out.extend(piece(&mut c, suffix, FlushCompress::Finish));
    let mut crc = Crc::new();
    crc.update(prefix);
    let mut one = Crc::new();
    one.update(chunk);
    for _ in 0..count {
        crc.combine(&one);
    }
    crc.update(suffix);
    let len = prefix.len() as u64 + chunk.len() as u64 * count + suffix.len() as u64;
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out
}

/// One entry of a [`RawTarBuilder`] archive.
#[derive(Clone, Debug)]
pub struct RawEntry {
    /// Raw path bytes, written as they are (`..`, absolute, non-UTF-8...).
    pub path: Vec<u8>,
    pub data: Vec<u8>,
    pub kind: tar::EntryType,
    /// Raw link target bytes (for symlinks and hard links).
    pub link: Option<Vec<u8>>,
    pub mode: u32,
    /// Overrides the size field (e.g. to lie about it); `None` = data length.
    pub size: Option<u64>,
}

/// Builds tar / tar.gz archives from arbitrary entries, for tests that feed
/// regtool hostile input. Paths are written verbatim into the header (the
/// `tar` crate's `set_path` refuses `..` and absolute paths); paths longer
/// than 100 bytes are carried in a GNU long-name record.
#[derive(Clone, Debug, Default)]
pub struct RawTarBuilder {
    entries: Vec<RawEntry>,
    trailing: Vec<u8>,
}

impl RawTarBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry of any type.
    pub fn entry(
        mut self,
        path: impl AsRef<[u8]>,
        data: impl AsRef<[u8]>,
        kind: tar::EntryType,
    ) -> Self {
        self.entries.push(RawEntry {
            path: path.as_ref().to_vec(),
            data: data.as_ref().to_vec(),
            kind,
            link: None,
            mode: 0o644,
            size: None,
        });
        self
    }

    /// Adds a fully specified entry.
    pub fn raw_entry(mut self, entry: RawEntry) -> Self {
        self.entries.push(entry);
        self
    }

    /// Adds a regular file.
    pub fn file(self, path: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        self.entry(path, data, tar::EntryType::Regular)
    }

    /// Adds a directory entry.
    pub fn dir(mut self, path: impl AsRef<[u8]>) -> Self {
        self.entries.push(RawEntry {
            path: path.as_ref().to_vec(),
            data: Vec::new(),
            kind: tar::EntryType::Directory,
            link: None,
            mode: 0o755,
            size: None,
        });
        self
    }

    /// Adds a symbolic link `path -> target`.
    pub fn symlink(self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.link(path, target, tar::EntryType::Symlink)
    }

    /// Adds a hard link `path -> target`.
    pub fn hardlink(self, path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.link(path, target, tar::EntryType::Link)
    }

    fn link(
        mut self,
        path: impl AsRef<[u8]>,
        target: impl AsRef<[u8]>,
        kind: tar::EntryType,
    ) -> Self {
        self.entries.push(RawEntry {
            path: path.as_ref().to_vec(),
            data: Vec::new(),
            kind,
            link: Some(target.as_ref().to_vec()),
            mode: 0o777,
            size: None,
        });
        self
    }

    /// Bytes appended after the end-of-archive blocks.
    pub fn trailing(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.trailing.extend_from_slice(bytes.as_ref());
        self
    }

    /// The uncompressed tar.
    pub fn build_tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for e in &self.entries {
            if e.path.len() > 100 {
                append_gnu_long(&mut builder, tar::EntryType::GNULongName, &e.path);
            }
            if let Some(link) = e.link.as_ref().filter(|l| l.len() > 100) {
                append_gnu_long(&mut builder, tar::EntryType::GNULongLink, link);
            }
            let mut h = tar::Header::new_gnu();
            write_name(&mut h.as_old_mut().name, &e.path);
            if let Some(link) = &e.link {
                write_name(&mut h.as_old_mut().linkname, link);
            }
            h.set_entry_type(e.kind);
            h.set_size(e.size.unwrap_or(e.data.len() as u64));
            h.set_mode(e.mode);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_cksum();
            // `append` writes the header verbatim, then the data padded to
            // a 512-byte boundary.
            builder.append(&h, e.data.as_slice()).expect("append entry");
        }
        let mut out = builder.into_inner().expect("finish tar");
        out.extend_from_slice(&self.trailing);
        out
    }

    /// The gzip'd tar.
    pub fn build(&self) -> Vec<u8> {
        gzip(&self.build_tar())
    }

    /// Writes the gzip'd tar to `dir/file_name` and returns its path.
    pub fn write_to(&self, dir: &Path, file_name: &str) -> PathBuf {
        fs::create_dir_all(dir).expect("create output dir");
        let path = dir.join(file_name);
        fs::write(&path, self.build()).expect("write archive");
        path
    }
}

/// Appends a GNU `././@LongLink` record of `kind` (`GNULongName` or
/// `GNULongLink`) carrying `long` and a NUL, for the entry that follows it.
fn append_gnu_long(builder: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, long: &[u8]) {
    let mut data = long.to_vec();
    data.push(0);
    let mut h = tar::Header::new_gnu();
    write_name(&mut h.as_old_mut().name, b"././@LongLink");
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    builder
        .append(&h, data.as_slice())
        .unwrap_or_else(|e| panic!("append {kind:?} record: {e}"));
}

/// Copies `bytes` into a fixed-size header field (truncating at its size).
fn write_name(field: &mut [u8; 100], bytes: &[u8]) {
    field.fill(0);
    let n = bytes.len().min(field.len());
    field[..n].copy_from_slice(&bytes[..n]);
}
