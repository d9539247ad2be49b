//! A registry for unit tests of the commands: made in a temporary folder
//! with `init` and `add` of some of `fixtures/crates-io`, and opened again
//! through a storage that counts every read and write
//! ([`crate::storage::counting`]).

use super::add::{AddOptions, add};
use super::init::{InitOptions, init};
use crate::catalogue::Catalogue;
use crate::config;
use crate::location::RegistryLocation;
use crate::output::Shell;
use crate::registry::Registry;
use crate::storage::Storage;
use crate::storage::counting::Counting;
use crate::storage::local::LocalStorage;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A registry in a temporary folder, with its counting storage.
pub(crate) struct Counted {
    /// The folder (deleted on drop).
    #[cfg_attr(not(feature = "html"), allow(dead_code))]
    pub(crate) dir: tempfile::TempDir,
    /// The storage every read and write of [`Counted::open`] goes through.
    pub(crate) store: Arc<Counting>,
}

/// `fixtures/crates-io/{file}`.
pub(crate) fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/crates-io")
        .join(file)
}

impl Counted {
    /// A registry (catalogue on when `html`) holding the fixtures `files`.
    pub(crate) fn new(html: bool, files: &[&str]) -> Counted {
        let dir = tempfile::tempdir().unwrap();
        let location = RegistryLocation::Local(dir.path().to_path_buf());
        let opts = InitOptions {
            url: "https://crates.example.com/".into(),
            aliases: Vec::new(),
            auth_required: false,
            mirror: false,
            max_crate_size: None,
            max_unpacked_size: config::DEFAULT_MAX_UNPACKED_SIZE,
            html,
            lease_seconds: None,
            name: None,
            api: None,
        };
        let shell = Shell::silent();
        init(&location, &opts, &shell).unwrap();
        let add_opts = AddOptions {
            paths: files.iter().map(|f| fixture(f)).collect(),
            ..AddOptions::default()
        };
        add(&location.open().unwrap(), &add_opts, &shell).unwrap();
        let inner: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        Counted {
            dir,
            store: Arc::new(Counting::new(inner)),
        }
    }

    /// The registry, opened through the counting storage.
    pub(crate) fn open(&self) -> Registry {
        Registry::open(self.store.clone(), Arc::new(Catalogue::default())).unwrap()
    }
}
