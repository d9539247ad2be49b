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
//! # Modules
//! - [`registry`]: the only door to a registry: opening/creating it, its lock,
//!   every key in it, the publish order.
//! - [`storage`]: where the bytes live ([`storage::Storage`]; a folder today).
//! - [`reader`]: the one crate reader (`.crate` bytes to index line).
//! - [`index`]: index lines ([`index::IndexPackage`]) and index files.
//! - [`config`]: `config.json` ([`config::RegistryConfig`]) and regtool's settings.
//! - [`crate_file`]: reading a `.crate` in one streaming pass.
//! - [`manifest`]: packaged `Cargo.toml` to index line.
//! - [`name`]: crate-name rules and index paths.
//! - [`lockfile`], [`upstream`]: `Cargo.lock` files and a sparse registry over
//!   HTTP, for `regtool mirror`.
//! - [`fs`]: atomic writes and the lock.
//! - [`ops`]: one module per subcommand.
//! - [`catalogue`]: the static HTML catalogue written beside the index.
//! - [`cli`], [`report`], [`output`], [`error`]: the command line, the one
//!   printer of reports, output streams, errors.

pub mod catalogue;
pub mod cli;
pub mod config;
pub mod crate_file;
pub mod error;
pub mod fs;
pub mod index;
pub mod location;
pub mod lockfile;
pub mod manifest;
pub mod name;
pub mod ops;
pub mod output;
pub mod reader;
pub mod registry;
pub mod report;
pub mod storage;
pub mod upstream;

pub use error::{Error, Result};
pub use registry::Registry;
