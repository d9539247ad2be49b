//! Fuzz target: arbitrary bytes as a `.crate` file.
//!
//! The bytes are written to a temporary file and read with
//! `regtool::crate_file::read_crate` under small caps (so a gzip bomb costs
//! little); when that accepts the archive, its `Cargo.toml` goes through
//! `regtool::manifest::to_index_package` as `regtool add` would do. Any panic,
//! abort, timeout or runaway allocation is a bug: hostile input must come back
//! as an `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regtool::config::Settings;
use regtool::crate_file::{Limits, read_crate};
use regtool::manifest::{DepContext, to_index_package};
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Small caps: big enough for real small crates, small enough that every run
/// is fast.
const LIMITS: Limits = Limits {
    max_crate_size: 1024 * 1024,
    max_unpacked_size: 4 * 1024 * 1024,
    max_manifest_size: 256 * 1024,
};

/// One temporary folder for the whole fuzzing session; each input overwrites
/// the same file in it.
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
        aliases: vec!["https://mirror.example.com/index".into()],
        mirror: false,
        max_crate_size: LIMITS.max_crate_size,
        max_unpacked_size: LIMITS.max_unpacked_size,
    })
}

fuzz_target!(|data: &[u8]| {
    let path = input_path();
    {
        let mut f = std::fs::File::create(path).expect("create the input file");
        f.write_all(data).expect("write the input file");
    }
    let mut copy = Vec::new();
    if let Ok(contents) = read_crate(path, &LIMITS, Some(&mut copy)) {
        // What regtool relies on when it accepts a file.
        assert_eq!(contents.size, data.len() as u64, "size of an accepted file");
        assert_eq!(copy, data, "the copy must be the file's exact bytes");
        assert_eq!(contents.cksum.len(), 64, "cksum is hex SHA-256");
        assert!(contents.manifest.len() as u64 <= LIMITS.max_manifest_size);
        let ctx = DepContext {
            settings: settings(),
        };
        let _ = to_index_package(&contents.manifest, &ctx);
    }
});
