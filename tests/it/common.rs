//! Shared helpers for the integration tests: running the `regtool` binary,
//! building `.crate` files (well-formed and hostile ones), a tiny static
//! HTTP server that plays the part of the registry's web host, a sandboxed
//! `cargo` runner with its own `CARGO_HOME`, a registry on disk for the
//! command tests ([`TestRegistry`]) with file-tree snapshots, and the
//! conformance check against crates.io's own index lines.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Running processes
// ---------------------------------------------------------------------------

/// How long a single `regtool` invocation may take in tests.
pub const REGTOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a single `cargo` invocation may take in tests (compiling a few
/// tiny crates on a 2-core machine, several tests in parallel).
pub const CARGO_TIMEOUT: Duration = Duration::from_secs(600);

/// A `Command` for the `regtool` binary under test.
pub fn regtool() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_regtool"));
    cmd.env("NO_COLOR", "1").env_remove("REGTOOL_REGISTRY");
    cmd
}

/// Runs `regtool ARGS...` (with a timeout) and returns its output.
pub fn run_regtool<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = regtool();
    cmd.args(args);
    run_with_timeout(cmd, REGTOOL_TIMEOUT)
}

/// Runs `regtool ARGS...` and panics (showing its output) unless it exits 0.
pub fn regtool_ok<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = run_regtool(&args);
    assert_success(&out, &format!("regtool {}", show_args(&args)));
    out
}

fn show_args(args: &[std::ffi::OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Formats a process output for a failure message.
pub fn describe_output(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Panics with stdout and stderr unless the process exited 0.
#[track_caller]
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`{what}` failed\n{}",
        describe_output(out)
    );
}

/// Panics with stdout and stderr unless the process exited with `code`.
#[track_caller]
pub fn assert_exit_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "`{what}`: expected exit code {code}\n{}",
        describe_output(out)
    );
}

/// Runs `cmd` with stdin closed and stdout/stderr captured; kills it and
/// panics (showing what it printed so far) if it runs longer than `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child: Child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || read_all(stdout));
    let err_reader = thread::spawn(move || read_all(stderr));
    let start = Instant::now();
    // Poll often at first (most runs end within milliseconds), then every 20 ms.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "{shown} timed out after {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    buf
}

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

/// Lower-case hex SHA-256 of `bytes` (the form the index's `cksum` and
/// Cargo.lock's `checksum` use).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The path of a crate's file in a sparse index, relative to the index
/// root (`1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd...`), lower-cased as Cargo
/// requests it.
pub fn index_path(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.len() {
        0 => panic!("empty crate name"),
        1 => format!("1/{lower}"),
        2 => format!("2/{lower}"),
        3 => format!("3/{}/{lower}", &lower[..1]),
        _ => format!("{}/{}/{lower}", &lower[..2], &lower[2..4]),
    }
}

/// Reads and parses the index file of `name` in registry `dir` (one JSON
/// object per line).
pub fn read_index_lines(dir: &Path, name: &str) -> Vec<serde_json::Value> {
    let path = dir.join(index_path(name));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read index file {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bad index line in {}: {e}\n{l}", path.display()))
        })
        .collect()
}

/// A fresh temporary directory (removed when dropped).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("regtool-test-")
        .tempdir()
        .expect("create temp dir")
}

/// A process's stderr, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A process's stdout, lossily decoded.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process's stdout parsed as one JSON document (panics, showing the
/// output, if it is not one).
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", describe_output(out)))
}

/// Every index file under `root` (not `.regtool/`, `crates/`, `config.json` or
/// dot files), relative paths with `/`, sorted.
pub fn index_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            !(e.depth() == 1 && (n == ".regtool" || n == "crates" || n == "config.json"))
        })
    {
        let e = e.expect("walk the registry");
        let n = e.file_name().to_string_lossy();
        if e.file_type().is_file() && !n.starts_with('.') {
            let rel = e.path().strip_prefix(root).expect("under root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Building .crate files
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Static file server
// ---------------------------------------------------------------------------

/// One request seen by a [`StaticServer`].
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A minimal HTTP/1.1 static file server on 127.0.0.1 (random port),
/// serving files under `root` for GET and HEAD, one thread per connection,
/// `Connection: close` on every response. Stops when dropped.
pub struct StaticServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    log: Arc<Mutex<Vec<RequestRecord>>>,
    accept_thread: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Starts serving `root`; the directory need not exist yet (files are
    /// looked up on each request).
    pub fn start(root: &Path) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let root = root.to_path_buf();
        let accept_thread = {
            let stop = stop.clone();
            let counts = counts.clone();
            let log = log.clone();
            thread::Builder::new()
                .name(format!("static-server-{}", addr.port()))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let stream = match conn {
                            Ok(s) => s,
                            Err(_) => {
                                thread::sleep(Duration::from_millis(5));
                                continue;
                            }
                        };
                        let root = root.clone();
                        let counts = counts.clone();
                        let log = log.clone();
                        // If no thread can be spawned the stream is dropped,
                        // which closes the connection.
                        let _ = thread::Builder::new()
                            .name("static-server-conn".into())
                            .spawn(move || {
                                let _ = handle_connection(stream, &root, &counts, &log);
                            });
                    }
                })
                .expect("spawn server thread")
        };
        StaticServer {
            addr,
            stop,
            counts,
            log,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// `sparse+http://127.0.0.1:PORT/`, the index URL Cargo uses.
    pub fn sparse_index_url(&self) -> String {
        format!("sparse+{}/", self.url())
    }

    /// Number of requests (any method, any status) for `path`, which is the
    /// decoded request path such as `/config.json`.
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// A snapshot of the per-path request counts.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().unwrap().clone()
    }

    /// Total number of requests seen so far.
    pub fn total_requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Paths answered with 200 whose path ends with `suffix`.
    pub fn served_ok_with_suffix(&self, suffix: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.status == 200 && r.path.ends_with(suffix))
            .map(|r| r.path.clone())
            .collect()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock `accept`; if even that fails, leave the thread detached
        // rather than hang the test.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if woke && let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

fn handle_connection(
    mut stream: TcpStream,
    root: &Path,
    counts: &Mutex<HashMap<String, usize>>,
    log: &Mutex<Vec<RequestRecord>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true).ok();

    // Read the request line and headers (bounded).
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // e.g. the self-connection that unblocks accept
    }
    let mut header_bytes = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if header_bytes > 64 * 1024 {
            return write_response(&mut stream, 431, "text/plain", b"headers too large", false);
        }
    }

    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let path_part = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path_part);

    let (status, body, content_type) = if method != "GET" && method != "HEAD" {
        (405, b"method not allowed".to_vec(), "text/plain")
    } else {
        match decoded.as_deref().and_then(|p| resolve(root, p)) {
            Some(file) => match fs::read(&file) {
                Ok(data) => (200, data, content_type_for(&file)),
                Err(_) => (404, b"not found".to_vec(), "text/plain"),
            },
            None => (404, b"not found".to_vec(), "text/plain"),
        }
    };

    let key = decoded.unwrap_or_else(|| path_part.to_owned());
    *counts.lock().unwrap().entry(key.clone()).or_insert(0) += 1;
    log.lock().unwrap().push(RequestRecord {
        method: method.clone(),
        path: key,
        status,
    });

    write_response(&mut stream, status, content_type, &body, method == "HEAD")?;
    // Let the client see the end of the response before the socket goes:
    // half-close, then drain whatever it still sends until it closes.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 1024];
    while let Ok(n) = reader.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    Ok(())
}

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Unknown",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body);
    }
    stream.write_all(&response)?;
    stream.flush()
}

/// Maps a decoded URL path to a file under `root`, refusing anything that
/// could leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    if !url_path.starts_with('/') {
        return None;
    }
    let mut path = root.to_path_buf();
    for seg in url_path.split('/') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        path.push(seg);
    }
    if path.is_file() { Some(path) } else { None }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type_for(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("crate") => "application/gzip",
        _ => "text/plain; charset=utf-8",
    }
}

// ---------------------------------------------------------------------------
// A registry served over HTTP
// ---------------------------------------------------------------------------

/// A temp dir holding a registry directory (`root()`), served by a
/// [`StaticServer`] and initialised with `regtool init`.
pub struct ServedRegistry {
    // Field order matters: stop the server before deleting the files.
    pub server: StaticServer,
    dir: tempfile::TempDir,
}

impl ServedRegistry {
    /// `regtool init DIR --url http://127.0.0.1:PORT` plus `extra_args`
    /// (e.g. `["--mirror"]`).
    pub fn new(extra_args: &[&str]) -> ServedRegistry {
        let dir = tempdir();
        let root = dir.path().join("registry");
        let server = StaticServer::start(&root);
        let mut args: Vec<std::ffi::OsString> = vec![
            "init".into(),
            root.clone().into(),
            "--url".into(),
            server.url().into(),
        ];
        args.extend(extra_args.iter().map(|a| a.into()));
        regtool_ok(&args);
        assert!(
            root.join("config.json").is_file(),
            "regtool init did not create {}/config.json",
            root.display()
        );
        ServedRegistry { server, dir }
    }

    /// The registry directory (what `--registry` takes).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("registry")
    }

    /// A scratch directory next to the registry (for `.crate` files).
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        fs::create_dir_all(&p).expect("create scratch dir");
        p
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn sparse_index_url(&self) -> String {
        self.server.sparse_index_url()
    }

    /// Runs `regtool --registry ROOT add PATHS...` and asserts exit 0.
    pub fn add_ok(&self, paths: &[&Path]) -> Output {
        let mut args: Vec<std::ffi::OsString> =
            vec!["--registry".into(), self.root().into(), "add".into()];
        args.extend(paths.iter().map(|p| p.as_os_str().to_owned()));
        regtool_ok(&args)
    }

    /// Builds `krate` into the scratch dir, adds it, returns the .crate path.
    pub fn publish(&self, krate: &CrateBuilder) -> PathBuf {
        let path = krate.write_to(&self.scratch());
        self.add_ok(&[&path]);
        path
    }
}

// ---------------------------------------------------------------------------
// Sandboxed cargo
// ---------------------------------------------------------------------------

static PROJECT_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temp `CARGO_HOME` (with a `config.toml` the test composes), a temp
/// target dir, and consumer projects, for running the real `cargo`.
pub struct CargoEnv {
    dir: tempfile::TempDir,
    config: String,
}

impl CargoEnv {
    pub fn new() -> CargoEnv {
        let dir = tempdir();
        fs::create_dir_all(dir.path().join("home")).expect("create CARGO_HOME");
        fs::create_dir_all(dir.path().join("target")).expect("create target dir");
        fs::create_dir_all(dir.path().join("projects")).expect("create projects dir");
        let env = CargoEnv {
            dir,
            config: "[net]\nretry = 0\n\n[http]\ntimeout = 30\n".to_owned(),
        };
        env.write_config();
        env
    }

    /// Adds `[registries.NAME] index = "INDEX_URL"`.
    pub fn with_registry(self, name: &str, index_url: &str) -> Self {
        self.with_config(&format!("[registries.{name}]\nindex = \"{index_url}\"\n"))
    }

    /// Replaces crates.io with the registry at `index_url`.
    pub fn with_mirror(self, index_url: &str) -> Self {
        self.with_config(&format!(
            "[source.crates-io]\nreplace-with = \"regtool-mirror\"\n\n[source.regtool-mirror]\nregistry = \"{index_url}\"\n"
        ))
    }

    /// Appends raw TOML to `CARGO_HOME/config.toml`.
    pub fn with_config(mut self, toml_text: &str) -> Self {
        self.config.push('\n');
        self.config.push_str(toml_text);
        if !toml_text.ends_with('\n') {
            self.config.push('\n');
        }
        self.write_config();
        self
    }

    fn write_config(&self) {
        fs::write(self.home().join("config.toml"), &self.config).expect("write cargo config");
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn target_dir(&self) -> PathBuf {
        self.dir.path().join("target")
    }

    pub fn config_text(&self) -> &str {
        &self.config
    }

    /// A consumer binary project with `deps_toml_body` as its
    /// `[dependencies]` table and an empty `main`.
    pub fn project(&self, deps_toml_body: &str) -> PathBuf {
        self.project_with_main(deps_toml_body, "fn main() {}\n")
    }

    /// A consumer binary project with the given `[dependencies]` body and
    /// `src/main.rs`.
    pub fn project_with_main(&self, deps_toml_body: &str, main_rs: &str) -> PathBuf {
        let n = PROJECT_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = self
            .dir
            .path()
            .join("projects")
            .join(format!("consumer-{n}"));
        fs::create_dir_all(dir.join("src")).expect("create project");
        let manifest = format!(
            "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{deps_toml_body}\n\n[workspace]\n"
        );
        fs::write(dir.join("Cargo.toml"), manifest).expect("write project Cargo.toml");
        fs::write(dir.join("src/main.rs"), main_rs).expect("write main.rs");
        dir
    }

    /// The `cargo` command (from PATH) for `project`, with a clean
    /// environment: this CARGO_HOME and target dir, no colors, no
    /// inherited `CARGO_*` settings, tokens, wrappers or flags.
    pub fn command(&self, project: &Path) -> Command {
        let mut cmd = Command::new("cargo");
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("CARGO_")
                || k.starts_with("__CARGO")
                || k == "CARGO"
                || k == "RUSTC_WRAPPER"
                || k == "RUSTC_WORKSPACE_WRAPPER"
                || k == "RUSTFLAGS"
                || k == "RUSTDOCFLAGS"
                || k == "RUSTC_BOOTSTRAP"
                || k.eq_ignore_ascii_case("http_proxy")
                || k.eq_ignore_ascii_case("https_proxy")
                || k.eq_ignore_ascii_case("all_proxy")
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("CARGO_HOME", self.home())
            .env("CARGO_TARGET_DIR", self.target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .env("CARGO_INCREMENTAL", "0")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .current_dir(project);
        cmd
    }

    /// Runs `cargo ARGS...` in `project` (with a timeout).
    pub fn cargo(&self, project: &Path, args: &[&str]) -> Output {
        let mut cmd = self.command(project);
        cmd.args(args);
        run_with_timeout(cmd, CARGO_TIMEOUT)
    }

    /// Runs `cargo ARGS...` and panics with its output (and the cargo
    /// config) unless it succeeds.
    #[track_caller]
    pub fn cargo_ok(&self, project: &Path, args: &[&str]) -> Output {
        let out = self.cargo(project, args);
        assert!(
            out.status.success(),
            "`cargo {}` failed in {}\n{}\n--- CARGO_HOME/config.toml ---\n{}",
            args.join(" "),
            project.display(),
            describe_output(&out),
            self.config
        );
        out
    }
}

impl Default for CargoEnv {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// A registry on disk, for the command tests (add, yank, verify, ...)
// ---------------------------------------------------------------------------

/// The URL every test registry is "served" at.
pub const URL: &str = "https://crates.example.com";
/// Fixed publication time (2023-11-14T22:13:20Z) for snapshots.
pub const EPOCH: &str = "1700000000";
/// What crates.io's index lines give as the `registry` of a crates.io dependency.
pub const CRATES_IO_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// Runs `regtool ARGS...` (with a timeout) with `SOURCE_DATE_EPOCH` set to
/// [`EPOCH`].
pub fn run_at_epoch(args: &[OsString]) -> Output {
    let mut cmd = regtool();
    cmd.env("SOURCE_DATE_EPOCH", EPOCH).args(args);
    run_with_timeout(cmd, REGTOOL_TIMEOUT)
}

/// A registry made by `regtool init` in its own temp dir, with a scratch folder
/// (`inputs/`) next to it for the `.crate` files fed to `add`. Every command
/// runs with `SOURCE_DATE_EPOCH` = [`EPOCH`].
pub struct TestRegistry {
    dir: tempfile::TempDir,
    /// The registry directory (what `--registry` takes).
    pub root: PathBuf,
}

impl TestRegistry {
    /// `regtool init ROOT --url URL`.
    pub fn new() -> Self {
        Self::init(&[])
    }

    /// `regtool init ROOT --url URL --mirror`.
    pub fn mirror() -> Self {
        Self::init(&["--mirror"])
    }

    /// `regtool init ROOT --url URL` followed by `extra`.
    pub fn init(extra: &[&str]) -> Self {
        let dir = tempdir();
        let root = dir.path().join("registry");
        let mut args: Vec<OsString> = vec![
            "init".into(),
            root.clone().into(),
            "--url".into(),
            URL.into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        let out = run_at_epoch(&args);
        assert_success(&out, "regtool init");
        TestRegistry { dir, root }
    }

    /// A registry that already holds `seed 1.0.0`, so that "unchanged" checks
    /// cover an index file and a `.crate` too.
    pub fn seeded() -> Self {
        let reg = Self::new();
        reg.publish(&CrateBuilder::new("seed", "1.0.0"));
        reg
    }

    /// A registry holding `foo` 1.0.0, 1.1.0, 2.0.0 and `bar` 0.1.0.
    pub fn with_foo_and_bar() -> Self {
        let reg = Self::new();
        for v in ["1.0.0", "1.1.0", "2.0.0"] {
            reg.publish(&CrateBuilder::new("foo", v));
        }
        reg.publish(&CrateBuilder::new("bar", "0.1.0"));
        reg
    }

    /// The temp dir holding the registry and `inputs/`.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The scratch folder for inputs (created if needed).
    pub fn inputs(&self) -> PathBuf {
        let p = self.dir.path().join("inputs");
        fs::create_dir_all(&p).expect("create inputs dir");
        p
    }

    /// Writes `bytes` as `inputs/{file_name}`.
    pub fn input(&self, file_name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.inputs().join(file_name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).expect("write input");
        p
    }

    /// Writes `krate` into `inputs/` (under its cargo file name).
    pub fn krate(&self, krate: &CrateBuilder) -> PathBuf {
        krate.write_to(&self.inputs())
    }

    /// `regtool --registry ROOT ARGS...`
    pub fn run(&self, args: &[&dyn AsRef<OsStr>]) -> Output {
        self.run_args(args.iter().map(|a| a.as_ref()))
    }

    /// Like [`TestRegistry::run`], panicking (with the output) unless it exits 0.
    #[track_caller]
    pub fn ok(&self, args: &[&dyn AsRef<OsStr>]) -> Output {
        let out = self.run(args);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        assert_success(&out, &format!("regtool {}", shown.join(" ")));
        out
    }

    /// `regtool --registry ROOT add PATHS...`
    pub fn add(&self, paths: &[&Path]) -> Output {
        self.run_args(std::iter::once(OsStr::new("add")).chain(paths.iter().map(|p| p.as_os_str())))
    }

    #[track_caller]
    pub fn add_ok(&self, paths: &[&Path]) -> Output {
        let out = self.add(paths);
        assert_success(&out, "regtool add");
        out
    }

    /// Builds `krate` into `inputs/` and adds it.
    #[track_caller]
    pub fn publish(&self, krate: &CrateBuilder) -> PathBuf {
        let p = self.krate(krate);
        self.add_ok(&[&p]);
        p
    }

    fn run_args<'a>(&self, args: impl IntoIterator<Item = &'a OsStr>) -> Output {
        let mut all: Vec<OsString> = vec!["--registry".into(), self.root.clone().into()];
        all.extend(args.into_iter().map(OsStr::to_owned));
        run_at_epoch(&all)
    }

    pub fn index_file(&self, name: &str) -> PathBuf {
        self.root.join(index_path(name))
    }

    pub fn index_text(&self, name: &str) -> String {
        let p = self.index_file(name);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    pub fn crate_file(&self, name: &str, vers: &str) -> PathBuf {
        self.root
            .join("crates")
            .join(name)
            .join(format!("{name}-{vers}.crate"))
    }

    /// `regtool verify ROOT [EXTRA...]`
    pub fn verify(&self, extra: &[&str]) -> Output {
        let mut args: Vec<OsString> = vec!["verify".into(), self.root.clone().into()];
        args.extend(extra.iter().map(OsString::from));
        run_at_epoch(&args)
    }

    /// `verify` exits 0, prints nothing on stdout and reports 0 problems.
    #[track_caller]
    pub fn assert_verify_clean(&self) {
        let out = self.verify(&[]);
        assert_success(&out, "regtool verify");
        assert_eq!(stdout(&out), "", "{}", describe_output(&out));
        assert!(
            stderr(&out).contains(": 0 problem(s)"),
            "{}",
            describe_output(&out)
        );
    }
}

impl Default for TestRegistry {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// File-tree snapshots
// ---------------------------------------------------------------------------

/// Every file and folder under a root (paths relative, `/`-separated; folders
/// end in `/`) with the bytes of each file (a symlink: `symlink -> TARGET`),
/// except `.regtool/lock`, which any command may create.
pub type Tree = BTreeMap<String, Option<Vec<u8>>>;

/// The [`Tree`] under `root` (empty if `root` does not exist).
pub fn tree(root: &Path) -> Tree {
    fn walk(base: &Path, dir: &Path, out: &mut Tree) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let ft = entry.file_type().expect("file type");
            if ft.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(base, &path, out);
            } else if rel == ".regtool/lock" {
                continue;
            } else if ft.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                let mut v = b"symlink -> ".to_vec();
                v.extend_from_slice(target.to_string_lossy().as_bytes());
                out.insert(rel, Some(v));
            } else {
                out.insert(rel, Some(fs::read(&path).expect("read file")));
            }
        }
    }
    let mut out = Tree::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// Panics, listing the paths that differ, unless `actual` is `expected`.
#[track_caller]
pub fn assert_tree_eq(expected: &Tree, actual: &Tree, what: &str) {
    if expected == actual {
        return;
    }
    let mut diff = Vec::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => diff.push(format!("missing: {k}")),
            Some(w) if w != v => diff.push(format!("changed: {k}")),
            _ => {}
        }
    }
    for k in actual.keys() {
        if !expected.contains_key(k) {
            diff.push(format!("unexpected: {k}"));
        }
    }
    panic!(
        "{what}: the registry is not as expected:\n  {}",
        diff.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// Conformance with crates.io's own index lines (no network)
// ---------------------------------------------------------------------------

/// `fixtures/crates-io/`: real `.crate` files and crates.io's index lines for
/// them (`expected.jsonl`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crates-io")
}

/// The lines of `expected.jsonl`.
pub fn expected_lines() -> Vec<Value> {
    let text = fs::read_to_string(fixtures().join("expected.jsonl")).expect("expected.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("expected line is JSON"))
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_pubtime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Checks every line of `expected.jsonl` against the registry at `root`.
pub fn check_conformance(root: &Path, mirror: bool) {
    let expected = expected_lines();
    assert_eq!(expected.len(), 21);
    let mut failures = Vec::new();
    let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
    for exp in &expected {
        let name = exp["name"].as_str().unwrap();
        let vers = exp["vers"].as_str().unwrap();
        *per_name.entry(name.to_owned()).or_default() += 1;
        let id = format!("{name}@{vers}");
        let ours = read_index_lines(root, name);
        let Some(line) = ours.iter().find(|l| l["vers"] == vers) else {
            failures.push(format!("{id}: no line"));
            continue;
        };
        for key in [
            "name",
            "vers",
            "cksum",
            "links",
            "rust_version",
            "features",
            "features2",
            "v",
        ] {
            if line.get(key) != exp.get(key) {
                failures.push(format!(
                    "{id}: {key}: ours {:?}, crates.io {:?}",
                    line.get(key),
                    exp.get(key)
                ));
            }
        }
        if line["yanked"] != Value::Bool(false) {
            failures.push(format!("{id}: yanked is {}", line["yanked"]));
        }
        match line["pubtime"].as_str() {
            Some(t) if is_pubtime(t) => {}
            other => failures.push(format!("{id}: pubtime {other:?}")),
        }
        let file = fixtures().join(format!("{name}-{vers}.crate"));
        if line["cksum"] != sha256_hex(&fs::read(&file).unwrap()).as_str() {
            failures.push(format!("{id}: cksum is not the file's SHA-256"));
        }
        let mut deps = Vec::new();
        for d in line["deps"].as_array().unwrap() {
            let mut d = d.as_object().unwrap().clone();
            let reg = d.remove("registry");
            match (mirror, reg) {
                (false, Some(Value::String(r))) if r == CRATES_IO_INDEX => {}
                (true, None) => {}
                (_, r) => failures.push(format!(
                    "{id}: dep {} has registry {r:?} (mirror: {mirror})",
                    d["name"]
                )),
            }
            deps.push(Value::Object(d));
        }
        if Value::Array(deps.clone()) != exp["deps"] {
            failures.push(format!(
                "{id}: deps differ\n  ours:      {}\n  crates.io: {}",
                Value::Array(deps),
                exp["deps"]
            ));
        }
    }
    for (name, n) in &per_name {
        let ours = read_index_lines(root, name).len();
        if ours != *n {
            failures.push(format!("{name}: {ours} lines, expected {n}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches with crates.io:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs `../shared/conformance/compare.py` when it is there.
pub fn run_compare_py(root: &Path, mirror: bool) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/compare.py");
    if !script.is_file() {
        eprintln!("skipping compare.py: {} not found", script.display());
        return;
    }
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(fixtures().join("expected.jsonl"))
        .arg(root);
    if mirror {
        cmd.arg("--mirror");
    }
    let out = run_with_timeout(cmd, REGTOOL_TIMEOUT);
    assert!(
        out.status.success() && stdout(&out).contains(", 0 failed"),
        "compare.py reports failures\n{}",
        describe_output(&out)
    );
}
