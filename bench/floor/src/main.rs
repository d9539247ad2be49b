//! The floor for taking in `.crate` files: the work no registry tool that
//! checks what it stores can avoid, and nothing else.
//!
//! For every `.crate` file given (a file, or a folder whose `*.crate` files are
//! taken, not recursively), largest first, each worker thread:
//! 1. **reads** the whole file into memory (one `read_to_end` into a buffer
//!    that is reused; with a warm page cache this is a copy out of the cache);
//! 2. computes its **SHA-256** (the `cksum` of the index line), `sha2` 0.10
//!    with runtime CPU detection (SHA-NI where present), as regtool does;
//! 3. **inflates** the whole gzip member and checks its trailer (CRC-32 and
//!    length), `flate2` on `zlib-rs` with runtime CPU detection, as regtool
//!    does; the inflated bytes go into a 256 KiB scratch buffer that is
//!    overwritten: no tar parsing, no manifest, nothing written to disk.
//!
//! usage: `floor [--threads N] PATH...` (default 1 thread). Prints one line of
//! `key=value` pairs: `files`, `read_bytes`, `inflated_bytes`, `threads`,
//! `wall_s` (from the first read to the last inflate, process start and exit
//! excluded), and `read_s`, `sha256_s`, `inflate_s` (time in each step, summed
//! over the threads). Exits 1 naming the file if one cannot be read or is not
//! a valid gzip member, 2 on bad arguments.

// The repository's clippy.toml keeps regtool's file access behind its storage
// layer; this is a separate measuring tool that reads the files it is given.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use flate2::bufread::GzDecoder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one thread did: byte counts and time per step.
#[derive(Default)]
struct Tally {
    files: usize,
    read_bytes: u64,
    inflated_bytes: u64,
    read: Duration,
    sha256: Duration,
    inflate: Duration,
    /// The XOR of every digest's first byte, printed so the hashing cannot be
    /// optimised away.
    digest_xor: u8,
}

fn main() {
    let mut threads = 1usize;
    let mut paths = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = match args.next().and_then(|n| n.to_str()?.parse().ok()) {
                Some(n) if n > 0 => n,
                _ => usage("--threads needs a positive number"),
            };
        } else if a == "-h" || a == "--help" {
            usage("");
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    if paths.is_empty() {
        usage("no .crate file or folder given");
    }
    let mut files = Vec::new();
    for p in &paths {
        collect(p, &mut files).unwrap_or_else(|e| fail(p, &e));
    }
    // Largest first, so that the threads finish close together.
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| work(&files, &next)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    let wall = start.elapsed();

    let mut t = Tally::default();
    for x in tallies {
        t.files += x.files;
        t.read_bytes += x.read_bytes;
        t.inflated_bytes += x.inflated_bytes;
        t.read += x.read;
        t.sha256 += x.sha256;
        t.inflate += x.inflate;
        t.digest_xor ^= x.digest_xor;
    }
    println!(
        "files={} read_bytes={} inflated_bytes={} threads={} wall_s={:.3} read_s={:.3} sha256_s={:.3} inflate_s={:.3} digest_xor={:02x}",
        t.files,
        t.read_bytes,
        t.inflated_bytes,
        threads,
        wall.as_secs_f64(),
        t.read.as_secs_f64(),
        t.sha256.as_secs_f64(),
        t.inflate.as_secs_f64(),
        t.digest_xor,
    );
}

/// Takes files from `files` (path, size in bytes) until none is left, and
/// reads, hashes and inflates each.
fn work(files: &[(PathBuf, u64)], next: &AtomicUsize) -> Tally {
    let mut t = Tally::default();
    let mut data = Vec::new();
    let mut scratch = vec![0u8; 256 * 1024];
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some((path, _)) = files.get(i) else {
            return t;
        };
        let t0 = Instant::now();
        data.clear();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .unwrap_or_else(|e| fail(path, &e));
        let t1 = Instant::now();
        let digest = Sha256::digest(&data);
        let t2 = Instant::now();
        let mut gz = GzDecoder::new(&data[..]);
        loop {
            match gz.read(&mut scratch) {
                Ok(0) => break,
                Ok(n) => t.inflated_bytes += n as u64,
                Err(e) => fail(path, &e),
            }
        }
        let t3 = Instant::now();
        t.files += 1;
        t.read_bytes += data.len() as u64;
        t.digest_xor ^= digest[0];
        t.read += t1 - t0;
        t.sha256 += t2 - t1;
        t.inflate += t3 - t2;
    }
}

/// Adds `p` (a file) or the `*.crate` files directly in `p` (a folder), with
/// their sizes in bytes.
fn collect(p: &Path, out: &mut Vec<(PathBuf, u64)>) -> std::io::Result<()> {
    let meta = std::fs::metadata(p)?;
    if !meta.is_dir() {
        out.push((p.to_path_buf(), meta.len()));
        return Ok(());
    }
    for entry in std::fs::read_dir(p)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "crate") {
            let meta = entry.metadata()?;
            if meta.is_file() {
                out.push((path, meta.len()));
            }
        }
    }
    Ok(())
}

fn fail(path: &Path, e: &std::io::Error) -> ! {
    eprintln!("floor: {}: {e}", path.display());
    std::process::exit(1)
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("floor: {problem}");
    }
    eprintln!("usage: floor [--threads N] (FILE.crate | FOLDER)...");
    std::process::exit(if problem.is_empty() { 0 } else { 2 })
}
