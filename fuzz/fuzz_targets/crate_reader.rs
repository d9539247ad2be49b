//! Fuzz target: arbitrary bytes as a `.crate` file.
//!
//! The bytes are written to a temporary file and read with
//! `regtool::crate_file::read_crate` under small caps (so a gzip bomb costs
//! little); when that accepts the archive, its `Cargo.toml` goes through
//! `regtool::manifest::to_index_package` as `regtool add` would do. Any panic,
//! abort, timeout or runaway allocation is a bug: hostile input must come back
//! as an `Err`.
#![no_main]

mod common;

use common::{LIMITS, input_path, to_index_entry};
use libfuzzer_sys::fuzz_target;
use regtool::crate_file::read_crate;
use std::io::Write;

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
        to_index_entry(&contents.manifest, &["https://mirror.example.com/index"]);
    }
});
