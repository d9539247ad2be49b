//! Fuzz target: arbitrary bytes as the *tar* inside a `.crate`.
//!
//! `crate_reader` mutates the gzip bytes, so most of its inputs die in the
//! deflate decoder. Here the harness gzips the input first, so every mutation
//! reaches regtool's tar walk (paths, entry types, GNU long names, pax headers,
//! sizes) and, for archives it accepts, the manifest. No panic allowed.
#![no_main]

mod common;

use common::{LIMITS, input_path, to_index_entry};
use libfuzzer_sys::fuzz_target;
use regtool::crate_file::read_crate;
use std::io::Write;

fuzz_target!(|tar: &[u8]| {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).expect("gzip in memory");
    let bytes = gz.finish().expect("gzip in memory");
    let path = input_path();
    std::fs::write(path, &bytes).expect("write the input file");
    if let Ok(contents) = read_crate(path, &LIMITS, None) {
        assert_eq!(contents.size, bytes.len() as u64);
        assert!(contents.manifest.len() as u64 <= LIMITS.max_manifest_size);
        to_index_entry(&contents.manifest, &[]);
    }
});
