//! Fuzz target: arbitrary bytes as the *tar* inside a `.crate`.
//!
//! `crate_reader` mutates the gzip bytes, so most of its inputs die in the
//! deflate decoder. Here the harness gzips the input first, so every mutation
//! reaches regtool's tar walk (paths, entry types, GNU long names, pax headers,
//! sizes) and, for archives it accepts, the manifest. No panic allowed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regtool::config::Settings;
use regtool::crate_file::{Limits, read_crate};
use regtool::manifest::{DepContext, to_index_package};
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

const LIMITS: Limits = Limits {
    max_crate_size: 1024 * 1024,
    max_unpacked_size: 4 * 1024 * 1024,
    max_manifest_size: 256 * 1024,
};

fn input_path() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("regtool-fuzz-")
            .tempdir()
            .expect("create a temporary folder");
        let path = dir.path().join("input.crate");
        (dir, path)
    });
    path
}

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| Settings {
        url: "https://crates.example.com".into(),
        aliases: Vec::new(),
        mirror: false,
        max_crate_size: LIMITS.max_crate_size,
        max_unpacked_size: LIMITS.max_unpacked_size,
    })
}

fuzz_target!(|tar: &[u8]| {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).expect("gzip in memory");
    let bytes = gz.finish().expect("gzip in memory");
    let path = input_path();
    std::fs::write(path, &bytes).expect("write the input file");
    if let Ok(contents) = read_crate(path, &LIMITS, None) {
        assert_eq!(contents.size, bytes.len() as u64);
        assert!(contents.manifest.len() as u64 <= LIMITS.max_manifest_size);
        let ctx = DepContext {
            settings: settings(),
        };
        let _ = to_index_package(&contents.manifest, &ctx);
    }
});
