//! A registry served over HTTP.

use super::*;

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
