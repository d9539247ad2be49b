//! A registry on disk, for the command tests (add, yank, verify, ...).

use super::*;

/// The URL every test registry is "served" at.
pub const URL: &str = "https://crates.example.com";
/// Fixed publication time (2023-11-14T22:13:20Z) for snapshots.
pub const EPOCH: &str = "1700000000";
/// What crates.io's index lines give as the `registry` of a crates.io dependency.
pub const CRATES_IO_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// Runs `regtool ARGS...` (with a timeout) with `SOURCE_DATE_EPOCH` set to
/// [`EPOCH`].
pub fn run_at_epoch(args: &[OsString]) -> Output {
    let mut cmd = regtool();
    cmd.env("SOURCE_DATE_EPOCH", EPOCH).args(args);
    run_with_timeout(cmd, REGTOOL_TIMEOUT)
}

/// A registry made by `regtool init` in its own temp dir, with a scratch folder
/// (`inputs/`) next to it for the `.crate` files fed to `add`. Every command
/// runs with `SOURCE_DATE_EPOCH` = [`EPOCH`].
pub struct TestRegistry {
    dir: tempfile::TempDir,
    /// The registry directory (what `--registry` takes).
    pub root: PathBuf,
}

impl TestRegistry {
    /// `regtool init ROOT --url URL`.
    pub fn new() -> Self {
        Self::init(&[])
    }

    /// `regtool init ROOT --url URL --mirror`.
    pub fn mirror() -> Self {
        Self::init(&["--mirror"])
    }

    /// `regtool init ROOT --url URL` followed by `extra`.
    pub fn init(extra: &[&str]) -> Self {
        let dir = tempdir();
        let root = dir.path().join("registry");
        let mut args: Vec<OsString> = vec![
            "init".into(),
            root.clone().into(),
            "--url".into(),
            URL.into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        let out = run_at_epoch(&args);
        assert_success(&out, "regtool init");
        TestRegistry { dir, root }
    }

    /// A registry that already holds `seed 1.0.0`, so that "unchanged" checks
    /// cover an index file and a `.crate` too.
    pub fn seeded() -> Self {
        let reg = Self::new();
        reg.publish(&CrateBuilder::new("seed", "1.0.0"));
        reg
    }

    /// A registry holding `foo` 1.0.0, 1.1.0, 2.0.0 and `bar` 0.1.0.
    pub fn with_foo_and_bar() -> Self {
        let reg = Self::new();
        for v in ["1.0.0", "1.1.0", "2.0.0"] {
            reg.publish(&CrateBuilder::new("foo", v));
        }
        reg.publish(&CrateBuilder::new("bar", "0.1.0"));
        reg
    }

    /// The temp dir holding the registry and `inputs/`.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The scratch folder for inputs (created if needed).
    pub fn inputs(&self) -> PathBuf {
        let p = self.dir.path().join("inputs");
        fs::create_dir_all(&p).expect("create inputs dir");
        p
    }

    /// Writes `bytes` as `inputs/{file_name}`.
    pub fn input(&self, file_name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.inputs().join(file_name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).expect("write input");
        p
    }

    /// Writes `krate` into `inputs/` (under its cargo file name).
    pub fn krate(&self, krate: &CrateBuilder) -> PathBuf {
        krate.write_to(&self.inputs())
    }

    /// `regtool --registry ROOT ARGS...`
    pub fn run(&self, args: &[&dyn AsRef<OsStr>]) -> Output {
        self.run_args(args.iter().map(|a| a.as_ref()))
    }

    /// Like [`TestRegistry::run`], panicking (with the output) unless it exits 0.
    #[track_caller]
    pub fn ok(&self, args: &[&dyn AsRef<OsStr>]) -> Output {
        let out = self.run(args);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        assert_success(&out, &format!("regtool {}", shown.join(" ")));
        out
    }

    /// `regtool --registry ROOT add PATHS...`
    pub fn add(&self, paths: &[&Path]) -> Output {
        self.run_args(std::iter::once(OsStr::new("add")).chain(paths.iter().map(|p| p.as_os_str())))
    }

    #[track_caller]
    pub fn add_ok(&self, paths: &[&Path]) -> Output {
        let out = self.add(paths);
        assert_success(&out, "regtool add");
        out
    }

    /// Builds `krate` into `inputs/` and adds it.
    #[track_caller]
    pub fn publish(&self, krate: &CrateBuilder) -> PathBuf {
        let p = self.krate(krate);
        self.add_ok(&[&p]);
        p
    }

    fn run_args<'a>(&self, args: impl IntoIterator<Item = &'a OsStr>) -> Output {
        let mut all: Vec<OsString> = vec!["--registry".into(), self.root.clone().into()];
        all.extend(args.into_iter().map(OsStr::to_owned));
        run_at_epoch(&all)
    }

    pub fn index_file(&self, name: &str) -> PathBuf {
        self.root.join(index_path(name))
    }

    pub fn index_text(&self, name: &str) -> String {
        let p = self.index_file(name);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    pub fn crate_file(&self, name: &str, vers: &str) -> PathBuf {
        self.root
            .join("crates")
            .join(name)
            .join(format!("{name}-{vers}.crate"))
    }

    /// `regtool verify ROOT [EXTRA...]`
    pub fn verify(&self, extra: &[&str]) -> Output {
        let mut args: Vec<OsString> = vec!["verify".into(), self.root.clone().into()];
        args.extend(extra.iter().map(OsString::from));
        run_at_epoch(&args)
    }

    /// `verify` exits 0, prints nothing on stdout and reports 0 problems.
    #[track_caller]
    pub fn assert_verify_clean(&self) {
        let out = self.verify(&[]);
        assert_success(&out, "regtool verify");
        assert_eq!(stdout(&out), "", "{}", describe_output(&out));
        assert!(
            stderr(&out).contains(": 0 problems"),
            "{}",
            describe_output(&out)
        );
    }
}

impl Default for TestRegistry {
    fn default() -> Self {
        Self::new()
    }
}
