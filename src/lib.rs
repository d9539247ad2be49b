//! regtool keeps a Cargo alternative registry as plain static files.
//!
//! # The registry on disk
//!
//! ```text
//! REGISTRY/
//!   config.json                       {"dl": "{url}/crates/{crate}/{crate}-{version}.crate"}
//!   1/a  2/ab  3/a/abc  se/rd/serde   index files: one JSON line per version (lowercased path)
//!   crates/serde/serde-1.0.219.crate  the .crate files, exactly the bytes that were added
//!   .regtool/                         regtool's settings, lock and temp files (not for cargo)
//!   index.html feed.atom catalogue/   the browsable catalogue (for people; `--no-html` turns it off)
//! ```
//!
//! Any static server can serve `REGISTRY/` to cargo as a sparse registry
//! (<https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol>).
//!
//! # Floors
//!
//! The modules stand on seven floors; a module imports only from its own
//! floor or below, and there is no import cycle within a floor
//! (`python3 .ci/floors.py` checks both, from the table at its top):
//!
//! 0. core: [`error`], [`name`], [`index`] (index lines, `pubtime`),
//!    [`config`] (`config.json`, settings), [`layout`] (every key of a
//!    registry), [`output`] (the shell).
//! 1. input: [`crate_file`] (a `.crate` in one streaming pass), [`manifest`]
//!    (packaged `Cargo.toml` to index line), [`meta`] (what a page shows
//!    beyond the line), [`reader`] (the one crate reader), [`lockfile`],
//!    [`http`] (the one HTTP client and TLS provider), [`upstream`] (another
//!    registry over HTTP).
//! 2. storage: [`storage`] (the trait; the folder backend with its atomic
//!    writes and lock; S3).
//! 3. registry: [`registry`] (reads, the [`registry::Writer`] that alone
//!    writes, the change hook it announces changes through).
//! 4. catalogue: [`catalogue`] (the static HTML catalogue, a change hook).
//! 5. commands: [`ops`] (one module per subcommand) and [`location`] (the
//!    opener: picks the storage and installs the catalogue).
//! 6. command line: [`cli`] (clap, dispatch), [`report`] (the one printer).
//!
//! `src/main.rs` sits on top: it parses, runs, and maps errors to exit codes.
//!
//! # Features
//!
//! Three optional parts are Cargo features, all on by default
//! (`cargo install --no-default-features` builds regtool for registries in a
//! folder, without the catalogue or `serve`; `Cargo.toml` says what each pulls in):
//!
//! - `s3`: registries in an S3 bucket ([`storage`]'s S3 backend,
//!   object_store and tokio). Without it the opener ([`location`]) refuses an
//!   `s3://` location, for every command, `init` too, with
//!   [`Error::FeatureMissing`] naming the feature and how to install it.
//! - `html`: writing the catalogue ([`catalogue`]'s pages and renderer,
//!   pulldown-cmark and ammonia). Without it `init` makes registries with the
//!   catalogue off and says so in a warning; a registry whose catalogue is on
//!   refuses every change to its index, `.crate` files or settings, and
//!   `settings --html true`, before anything is written
//!   ([`Error::FeatureMissing`], through the change hook's `can_follow`),
//!   so that a catalogue never falls silently behind its index;
//!   `settings --html false` still turns it off, and reads and token changes
//!   go on.
//! - `serve`: `regtool serve`, cargo's Web API on the registry's files
//!   (`ops::serve`: axum and tokio; docs/serve.md). Without it the
//!   subcommand is refused with [`Error::FeatureMissing`].
//!
//! Both builds share one HTTP client and one TLS provider ([`http`]: reqwest
//! on rustls with ring), which `mirror`, `doctor` and the S3 backend use.
//!
//! The public API is what the binary, the integration tests and the fuzz
//! targets use; everything else is `pub(crate)`, so that the compiler finds
//! dead code. Lints: `Cargo.toml` (`[lints]`) and, for the library alone,
//! `unreachable_pub` here.

#![warn(unreachable_pub)]

// Floor 0: core.
pub mod config;
pub mod error;
pub mod index;
mod layout;
mod name;
pub mod output;

// Floor 1: input.
pub mod crate_file;
mod http;
mod lockfile;
pub mod manifest;
mod meta;
mod reader;
pub mod upstream;

// Floor 2: storage.
mod storage;

// Floor 3: the registry.
mod registry;

// Floor 4: the catalogue.
pub mod catalogue;

// Floor 5: the commands and the opener.
mod location;
mod ops;

// Floor 6: the command line.
pub mod cli;
mod report;

pub use error::{Error, Result};
