//! Sandboxed cargo.

use super::*;

static PROJECT_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temp `CARGO_HOME` (with a `config.toml` the test composes), a temp
/// target dir, and consumer projects, for running the real `cargo`.
pub struct CargoEnv {
    dir: tempfile::TempDir,
    config: String,
}

impl CargoEnv {
    pub fn new() -> CargoEnv {
        let dir = tempdir();
        fs::create_dir_all(dir.path().join("home")).expect("create CARGO_HOME");
        fs::create_dir_all(dir.path().join("target")).expect("create target dir");
        fs::create_dir_all(dir.path().join("projects")).expect("create projects dir");
        let env = CargoEnv {
            dir,
            config: "[net]\nretry = 0\n\n[http]\ntimeout = 30\n".to_owned(),
        };
        env.write_config();
        env
    }

    /// Adds `[registries.NAME] index = "INDEX_URL"`.
    pub fn with_registry(self, name: &str, index_url: &str) -> Self {
        self.with_config(&format!("[registries.{name}]\nindex = \"{index_url}\"\n"))
    }

    /// Replaces crates.io with the registry at `index_url`.
    pub fn with_mirror(self, index_url: &str) -> Self {
        self.with_config(&format!(
            "[source.crates-io]\nreplace-with = \"regtool-mirror\"\n\n[source.regtool-mirror]\nregistry = \"{index_url}\"\n"
        ))
    }

    /// Appends raw TOML to `CARGO_HOME/config.toml`.
    pub fn with_config(mut self, toml_text: &str) -> Self {
        self.config.push('\n');
        self.config.push_str(toml_text);
        if !toml_text.ends_with('\n') {
            self.config.push('\n');
        }
        self.write_config();
        self
    }

    fn write_config(&self) {
        fs::write(self.home().join("config.toml"), &self.config).expect("write cargo config");
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn target_dir(&self) -> PathBuf {
        self.dir.path().join("target")
    }

    pub fn config_text(&self) -> &str {
        &self.config
    }

    /// A consumer binary project with `deps_toml_body` as its
    /// `[dependencies]` table and an empty `main`.
    pub fn project(&self, deps_toml_body: &str) -> PathBuf {
        self.project_with_main(deps_toml_body, "fn main() {}\n")
    }

    /// A consumer binary project with the given `[dependencies]` body and
    /// `src/main.rs`.
    pub fn project_with_main(&self, deps_toml_body: &str, main_rs: &str) -> PathBuf {
        let n = PROJECT_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = self
            .dir
            .path()
            .join("projects")
            .join(format!("consumer-{n}"));
        fs::create_dir_all(dir.join("src")).expect("create project");
        let manifest = format!(
            "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{deps_toml_body}\n\n[workspace]\n"
        );
        fs::write(dir.join("Cargo.toml"), manifest).expect("write project Cargo.toml");
        fs::write(dir.join("src/main.rs"), main_rs).expect("write main.rs");
        dir
    }

    /// The `cargo` command (from PATH) for `project`, with a clean
    /// environment: this CARGO_HOME and target dir, no colors, no
    /// inherited `CARGO_*` settings, tokens, wrappers or flags.
    pub fn command(&self, project: &Path) -> Command {
        let mut cmd = Command::new("cargo");
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("CARGO_")
                || k.starts_with("__CARGO")
                || k == "CARGO"
                || k == "RUSTC_WRAPPER"
                || k == "RUSTC_WORKSPACE_WRAPPER"
                || k == "RUSTFLAGS"
                || k == "RUSTDOCFLAGS"
                || k == "RUSTC_BOOTSTRAP"
                || k.eq_ignore_ascii_case("http_proxy")
                || k.eq_ignore_ascii_case("https_proxy")
                || k.eq_ignore_ascii_case("all_proxy")
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("CARGO_HOME", self.home())
            .env("CARGO_TARGET_DIR", self.target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .env("CARGO_INCREMENTAL", "0")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .current_dir(project);
        cmd
    }

    /// Runs `cargo ARGS...` in `project` (with a timeout).
    pub fn cargo(&self, project: &Path, args: &[&str]) -> Output {
        let mut cmd = self.command(project);
        cmd.args(args);
        run_with_timeout(cmd, CARGO_TIMEOUT)
    }

    /// Runs `cargo ARGS...` and panics with its output unless it fails
    /// (`what` says why it must: "without a token").
    #[track_caller]
    pub fn cargo_fails(&self, project: &Path, args: &[&str], what: &str) -> Output {
        let out = self.cargo(project, args);
        assert!(
            !out.status.success(),
            "`cargo {}` succeeded {what}\n{}",
            args.join(" "),
            describe_output(&out)
        );
        out
    }

    /// Runs `cargo ARGS...` and panics with its output (and the cargo
    /// config) unless it succeeds.
    #[track_caller]
    pub fn cargo_ok(&self, project: &Path, args: &[&str]) -> Output {
        let out = self.cargo(project, args);
        assert!(
            out.status.success(),
            "`cargo {}` failed in {}\n{}\n--- CARGO_HOME/config.toml ---\n{}",
            args.join(" "),
            project.display(),
            describe_output(&out),
            self.config
        );
        out
    }
}

impl Default for CargoEnv {
    fn default() -> Self {
        Self::new()
    }
}
