//! What the `.crate` fuzz targets (`crate_reader`, `crate_tar`) share: the
//! caps they read under, the one temporary input file, and the last step of
//! `regtool add` for an archive that is accepted. Each target is its own
//! process, so each has its own copy of the statics below.

use regtool::config::Settings;
use regtool::crate_file::Limits;
use regtool::manifest::{DepContext, to_index_package};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Small caps: big enough for real small crates, small enough that every run
/// is fast.
pub const LIMITS: Limits = Limits {
    max_crate_size: 1024 * 1024,
    max_unpacked_size: 4 * 1024 * 1024,
    max_manifest_size: 256 * 1024,
};

/// One temporary folder for the whole fuzzing session; each input overwrites
/// the same file in it.
pub fn input_path() -> &'static PathBuf {
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

/// Turns an accepted archive's `Cargo.toml` into an index entry, as `regtool
/// add` does, under settings with these registry `aliases` (made on the first
/// call: a target passes the same ones every time). Only a panic matters: the
/// result is dropped.
pub fn to_index_entry(manifest: &[u8], aliases: &[&str]) {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    let settings = SETTINGS.get_or_init(|| Settings {
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        max_crate_size: LIMITS.max_crate_size,
        max_unpacked_size: LIMITS.max_unpacked_size,
        html: false,
        ..Settings::new("https://crates.example.com".into())
    });
    let ctx = DepContext { settings };
    let _ = to_index_package(manifest, &ctx);
}
