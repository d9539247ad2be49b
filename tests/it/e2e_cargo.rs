//! End-to-end tests where the real `cargo` is the judge: regtool builds a
//! registry as static files, a tiny HTTP server serves them, and cargo
//! resolves, downloads, verifies and compiles crates from it.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{CargoEnv, CrateBuilder, ServedRegistry, sha256_hex};

/// `[registries.local]` pointing at the served registry.
fn cargo_env_for(reg: &ServedRegistry) -> CargoEnv {
    CargoEnv::new().with_registry("local", &reg.sparse_index_url())
}

/// `cargo generate-lockfile`, `cargo fetch`, `cargo build` must all succeed.
fn resolve_fetch_build(env: &CargoEnv, project: &Path) {
    env.cargo_ok(project, &["generate-lockfile"]);
    env.cargo_ok(project, &["fetch"]);
    env.cargo_ok(project, &["build"]);
}

/// The `[[package]]` entries of a Cargo.lock.
fn lock_packages(project: &Path) -> Vec<toml::Table> {
    let text = fs::read_to_string(project.join("Cargo.lock")).expect("read Cargo.lock");
    let lock: toml::Table = toml::from_str(&text).expect("parse Cargo.lock");
    lock.get("package")
        .and_then(|p| p.as_array())
        .map(|arr| arr.iter().filter_map(|v| v.as_table().cloned()).collect())
        .unwrap_or_default()
}

fn lock_package<'a>(pkgs: &'a [toml::Table], name: &str, version: &str) -> &'a toml::Table {
    pkgs.iter()
        .find(|p| {
            p.get("name").and_then(|v| v.as_str()) == Some(name)
                && p.get("version").and_then(|v| v.as_str()) == Some(version)
        })
        .unwrap_or_else(|| panic!("{name} {version} not in Cargo.lock: {pkgs:#?}"))
}

/// Asserts the lock file records `name version` from the local registry
/// with the checksum of the given .crate file.
fn assert_locked(
    project: &Path,
    reg: &ServedRegistry,
    name: &str,
    version: &str,
    crate_file: &Path,
) {
    let pkgs = lock_packages(project);
    let pkg = lock_package(&pkgs, name, version);
    let source = pkg.get("source").and_then(|v| v.as_str()).unwrap_or("");
    assert_eq!(
        source,
        format!("sparse+{}/", reg.url()),
        "{name} {version}: unexpected source in Cargo.lock"
    );
    let bytes = fs::read(crate_file).expect("read .crate");
    assert_eq!(
        pkg.get("checksum").and_then(|v| v.as_str()),
        Some(sha256_hex(&bytes).as_str()),
        "{name} {version}: Cargo.lock checksum differs from the .crate's sha256"
    );
}

#[test]
fn same_registry_dependency() {
    let reg = ServedRegistry::new(&[]);
    let index = reg.sparse_index_url();

    let base = CrateBuilder::new("base-lib", "1.0.3")
        .file("src/lib.rs", "pub fn base_value() -> u32 { 40 }\n");
    let app = CrateBuilder::new("app-lib", "1.2.0")
        .manifest_extra(&format!(
            "[dependencies.base-lib]\nversion = \"^1.0\"\nregistry-index = \"{index}\"\n"
        ))
        .file(
            "src/lib.rs",
            "pub fn answer() -> u32 { base_lib::base_value() + 2 }\n",
        );
    let base_path = reg.publish(&base);
    let app_path = reg.publish(&app);

    // The index line of app-lib must point base-lib at this same registry,
    // i.e. carry no `registry` field (cargo reads absence as "same one").
    let lines = common::read_index_lines(&reg.root(), "app-lib");
    let deps = lines[0]["deps"].as_array().expect("deps array");
    let dep = deps
        .iter()
        .find(|d| d["name"] == "base-lib")
        .unwrap_or_else(|| panic!("base-lib missing from deps: {deps:?}"));
    assert!(
        dep.get("registry").is_none_or(|r| r.is_null()),
        "same-registry dependency should have no `registry` field: {dep}"
    );

    let env = cargo_env_for(&reg);
    let project = env.project_with_main(
        "app-lib = { version = \"1\", registry = \"local\" }\n",
        "fn main() {\n    assert_eq!(app_lib::answer(), 42);\n    println!(\"answer={}\", app_lib::answer());\n}\n",
    );
    resolve_fetch_build(&env, &project);
    assert_locked(&project, &reg, "app-lib", "1.2.0", &app_path);
    assert_locked(&project, &reg, "base-lib", "1.0.3", &base_path);

    let out = env.cargo_ok(&project, &["run", "-q"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("answer=42"),
        "{}",
        common::describe_output(&out)
    );
    assert!(reg.server.count("/config.json") >= 1);
    assert!(reg.server.count("/crates/base-lib/base-lib-1.0.3.crate") >= 1);
    assert!(reg.server.count("/crates/app-lib/app-lib-1.2.0.crate") >= 1);
}

#[test]
fn renamed_dependency() {
    let reg = ServedRegistry::new(&[]);
    let index = reg.sparse_index_url();

    let real = CrateBuilder::new("real-util", "1.4.0")
        .file("src/lib.rs", "pub fn triple(x: u32) -> u32 { x * 3 }\n");
    let user = CrateBuilder::new("uses-util", "0.3.0")
        .manifest_extra(&format!(
            "[dependencies.util]\nversion = \"^1\"\npackage = \"real-util\"\nregistry-index = \"{index}\"\n"
        ))
        .file(
            "src/lib.rs",
            "pub fn nine() -> u32 { util::triple(3) }\n",
        );
    reg.publish(&real);
    reg.publish(&user);

    let lines = common::read_index_lines(&reg.root(), "uses-util");
    let deps = lines[0]["deps"].as_array().expect("deps array");
    assert!(
        deps.iter()
            .any(|d| d["name"] == "util" && d["package"] == "real-util"),
        "renamed dependency not recorded as name=util package=real-util: {deps:?}"
    );

    let env = cargo_env_for(&reg);
    let project = env.project_with_main(
        "uses-util = { version = \"0.3\", registry = \"local\" }\n",
        "fn main() {\n    assert_eq!(uses_util::nine(), 9);\n}\n",
    );
    resolve_fetch_build(&env, &project);
    let pkgs = lock_packages(&project);
    lock_package(&pkgs, "real-util", "1.4.0");
    env.cargo_ok(&project, &["run", "-q"]);
}

#[test]
fn target_specific_dependency() {
    let reg = ServedRegistry::new(&[]);
    let index = reg.sparse_index_url();

    let unix = CrateBuilder::new("unix-helper", "0.2.1").file(
        "src/lib.rs",
        "pub fn platform() -> &'static str { \"unix\" }\n",
    );
    let win = CrateBuilder::new("win-helper", "0.2.1").file(
        "src/lib.rs",
        "pub fn platform() -> &'static str { \"windows\" }\n",
    );
    let plat = CrateBuilder::new("plat-lib", "1.0.0")
        .manifest_extra(&format!(
            "[target.'cfg(unix)'.dependencies.unix-helper]\nversion = \"^0.2\"\nregistry-index = \"{index}\"\n\n\
             [target.'cfg(windows)'.dependencies.win-helper]\nversion = \"^0.2\"\nregistry-index = \"{index}\"\n"
        ))
        .file(
            "src/lib.rs",
            "#[cfg(unix)]\npub fn platform() -> &'static str { unix_helper::platform() }\n\
             #[cfg(windows)]\npub fn platform() -> &'static str { win_helper::platform() }\n\
             #[cfg(not(any(unix, windows)))]\npub fn platform() -> &'static str { \"other\" }\n",
        );
    reg.publish(&unix);
    reg.publish(&win);
    reg.publish(&plat);

    let lines = common::read_index_lines(&reg.root(), "plat-lib");
    let deps = lines[0]["deps"].as_array().expect("deps array");
    let target_of = |name: &str| {
        deps.iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from deps: {deps:?}"))["target"]
            .clone()
    };
    assert_eq!(target_of("unix-helper"), "cfg(unix)");
    assert_eq!(target_of("win-helper"), "cfg(windows)");

    let env = cargo_env_for(&reg);
    let project = env.project_with_main(
        "plat-lib = { version = \"1\", registry = \"local\" }\n",
        "fn main() {\n    #[cfg(unix)]\n    assert_eq!(plat_lib::platform(), \"unix\");\n    println!(\"platform={}\", plat_lib::platform());\n}\n",
    );
    resolve_fetch_build(&env, &project);
    let pkgs = lock_packages(&project);
    lock_package(&pkgs, "unix-helper", "0.2.1");
    lock_package(&pkgs, "win-helper", "0.2.1");
    if cfg!(unix) {
        let out = env.cargo_ok(&project, &["run", "-q"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("platform=unix"),
            "{}",
            common::describe_output(&out)
        );
    }
}

#[test]
fn dep_features() {
    let reg = ServedRegistry::new(&[]);
    let index = reg.sparse_index_url();

    let extra = CrateBuilder::new("extra", "2.0.0").file(
        "src/lib.rs",
        "pub fn sparkle() -> &'static str { \"*sparkle*\" }\n",
    );
    let featured = CrateBuilder::new("featured", "0.5.0")
        .manifest_extra(&format!(
            "[dependencies.extra]\nversion = \"^2\"\noptional = true\nregistry-index = \"{index}\"\n\n\
             [features]\ndefault = []\nfancy = [\"dep:extra\"]\n"
        ))
        .file(
            "src/lib.rs",
            "pub fn plain() -> &'static str { \"plain\" }\n\
             #[cfg(feature = \"fancy\")]\npub fn fancy() -> String { format!(\"fancy {}\", extra::sparkle()) }\n",
        );
    reg.publish(&extra);
    reg.publish(&featured);

    // `dep:` features live in `features2` (index format v2) or `features`;
    // either way cargo must understand them.
    let lines = common::read_index_lines(&reg.root(), "featured");
    let line = &lines[0];
    let fancy = line["features"]
        .get("fancy")
        .or_else(|| line.get("features2").and_then(|f| f.get("fancy")))
        .unwrap_or_else(|| panic!("feature `fancy` missing from index line: {line}"));
    assert_eq!(fancy, &serde_json::json!(["dep:extra"]));

    let env = cargo_env_for(&reg);
    let project = env.project_with_main(
        "featured = { version = \"0.5\", registry = \"local\", features = [\"fancy\"] }\n",
        "fn main() {\n    assert_eq!(featured::plain(), \"plain\");\n    assert_eq!(featured::fancy(), \"fancy *sparkle*\");\n    println!(\"{}\", featured::fancy());\n}\n",
    );
    resolve_fetch_build(&env, &project);
    let pkgs = lock_packages(&project);
    lock_package(&pkgs, "extra", "2.0.0");
    let out = env.cargo_ok(&project, &["run", "-q"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("fancy *sparkle*"));

    // Without the feature the optional dependency stays out of the graph.
    let env2 = cargo_env_for(&reg);
    let plain = env2.project_with_main(
        "featured = { version = \"0.5\", registry = \"local\" }\n",
        "fn main() {\n    assert_eq!(featured::plain(), \"plain\");\n}\n",
    );
    resolve_fetch_build(&env2, &plain);
    let pkgs = lock_packages(&plain);
    assert!(
        !pkgs
            .iter()
            .any(|p| p.get("name").and_then(|v| v.as_str()) == Some("extra")),
        "optional `extra` should not be locked without the feature: {pkgs:#?}"
    );
}

#[test]
fn exact_version_pin_and_checksum() {
    let reg = ServedRegistry::new(&[]);
    let out_dir = reg.scratch().join("pinned");
    let v100 = CrateBuilder::new("pinned", "1.0.0")
        .file("src/lib.rs", "pub const VERSION: &str = \"1.0.0\";\n")
        .write_to(&out_dir);
    let v110 = CrateBuilder::new("pinned", "1.1.0")
        .file("src/lib.rs", "pub const VERSION: &str = \"1.1.0\";\n")
        .write_to(&out_dir);
    // Add the whole folder at once.
    reg.add_ok(&[&out_dir]);

    let lines = common::read_index_lines(&reg.root(), "pinned");
    let versions: Vec<_> = lines
        .iter()
        .map(|l| l["vers"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(versions.contains(&"1.0.0".to_owned()), "{versions:?}");
    assert!(versions.contains(&"1.1.0".to_owned()), "{versions:?}");
    for (path, vers) in [(&v100, "1.0.0"), (&v110, "1.1.0")] {
        let line = lines.iter().find(|l| l["vers"] == vers).unwrap();
        assert_eq!(
            line["cksum"].as_str(),
            Some(sha256_hex(&fs::read(path).unwrap()).as_str()),
            "index cksum of pinned {vers}"
        );
    }

    let env = cargo_env_for(&reg);
    let project = env.project_with_main(
        "pinned = { version = \"=1.0.0\", registry = \"local\" }\n",
        "fn main() {\n    assert_eq!(pinned::VERSION, \"1.0.0\");\n    println!(\"pinned {}\", pinned::VERSION);\n}\n",
    );
    resolve_fetch_build(&env, &project);
    assert_locked(&project, &reg, "pinned", "1.0.0", &v100);
    let out = env.cargo_ok(&project, &["run", "-q"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pinned 1.0.0"),
        "{}",
        common::describe_output(&out)
    );
    assert_eq!(reg.server.count("/crates/pinned/pinned-1.1.0.crate"), 0);

    // And a caret requirement picks the newest.
    let latest = env.project_with_main(
        "pinned = { version = \"1\", registry = \"local\" }\n",
        "fn main() {\n    assert_eq!(pinned::VERSION, \"1.1.0\");\n}\n",
    );
    resolve_fetch_build(&env, &latest);
    assert_locked(&latest, &reg, "pinned", "1.1.0", &v110);
    env.cargo_ok(&latest, &["run", "-q"]);
}

// ---------------------------------------------------------------------------
// Mirror of crates.io
// ---------------------------------------------------------------------------

/// The consumer `[dependencies]` lines named by fixtures/crates-io/README.md:
/// the TOML lines of its first fenced code block that declare dependencies
/// (`name = ...`), ignoring table headers and comments.
fn readme_dependency_lines(readme: &str) -> Vec<String> {
    let mut blocks: Vec<Vec<String>> = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            block.push(line.to_owned());
        }
    }
    for block in blocks {
        let deps: Vec<String> = block
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
            .filter(|l| {
                l.split_once('=').is_some_and(|(k, _)| {
                    let k = k.trim().trim_matches('"');
                    !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
            })
            .map(str::to_owned)
            .collect();
        if !deps.is_empty() {
            return deps;
        }
    }
    Vec::new()
}

#[test]
fn crates_io_mirror() {
    let fixtures = common::fixtures();
    let readme_path = fixtures.join("README.md");
    let readme = fs::read_to_string(&readme_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme_path.display()));
    let dep_lines = readme_dependency_lines(&readme);
    assert!(
        !dep_lines.is_empty(),
        "no dependency lines found in {}",
        readme_path.display()
    );
    let crates = common::fixture_crates();
    assert!(
        !crates.is_empty(),
        "no .crate files in {}",
        fixtures.display()
    );

    let reg = ServedRegistry::new(&["--mirror"]);
    let paths: Vec<&Path> = crates.iter().map(PathBuf::as_path).collect();
    reg.add_ok(&paths);

    let env = CargoEnv::new().with_mirror(&reg.sparse_index_url());
    let project = env.project(&dep_lines.join("\n"));
    env.cargo_ok(&project, &["generate-lockfile"]);
    env.cargo_ok(&project, &["fetch"]);

    assert!(
        reg.server.count("/config.json") >= 1,
        "config.json was never requested: {:?}",
        reg.server.counts()
    );
    let served = reg.server.served_ok_with_suffix(".crate");
    assert!(
        !served.is_empty(),
        "no .crate was downloaded from the mirror: {:?}",
        reg.server.counts()
    );

    // The README promises the graph is closed: every locked package is one
    // of the fixture files, recorded as coming from crates.io (cargo names
    // the replaced source), with the fixture file's checksum.
    let pkgs = lock_packages(&project);
    let mut locked = 0;
    for pkg in pkgs
        .iter()
        .filter(|p| p.get("name").and_then(|v| v.as_str()) != Some("consumer"))
    {
        let name = pkg["name"].as_str().unwrap();
        let version = pkg["version"].as_str().unwrap();
        let file = fixtures.join(format!("{name}-{version}.crate"));
        assert!(file.is_file(), "{name} {version} locked but not a fixture");
        assert_eq!(
            pkg.get("source").and_then(|v| v.as_str()),
            Some("registry+https://github.com/rust-lang/crates.io-index"),
            "{name} {version}: source in Cargo.lock"
        );
        let expected = sha256_hex(&fs::read(&file).unwrap());
        assert_eq!(
            pkg.get("checksum").and_then(|v| v.as_str()),
            Some(expected.as_str()),
            "{name} {version}: checksum in Cargo.lock"
        );
        locked += 1;
    }
    assert_eq!(
        locked,
        crates.len(),
        "the README's dependencies should lock every fixture crate"
    );

    // Everything was fetched: the build needs no network at all.
    env.cargo_ok(&project, &["build", "--offline"]);
}

#[test]
fn readme_parsing() {
    let text = "# x\n\n```toml\n[dependencies]\n# comment\nfoo = \"1\"\nbar-baz = { version = \"0.2\", default-features = false }\n```\n";
    assert_eq!(
        readme_dependency_lines(text),
        vec![
            "foo = \"1\"".to_owned(),
            "bar-baz = { version = \"0.2\", default-features = false }".to_owned()
        ]
    );
}

// ---------------------------------------------------------------------------
// Yank and unyank, judged by cargo
// ---------------------------------------------------------------------------

fn run_prints(env: &CargoEnv, project: &Path, want: &str) {
    let out = env.cargo_ok(project, &["run", "-q"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(want),
        "want {want:?}: {}",
        common::describe_output(&out)
    );
}

#[test]
fn yank_hides_version_from_new_lockfiles_but_existing_lockfile_builds() {
    let reg = ServedRegistry::new(&[]);
    let dir = reg.scratch().join("yanky");
    for v in ["1.0.0", "1.1.0"] {
        CrateBuilder::new("yanky", v)
            .file(
                "src/lib.rs",
                format!("pub const VERSION: &str = \"{v}\";\n"),
            )
            .write_to(&dir);
    }
    reg.add_ok(&[&dir]);
    let deps = "yanky = { version = \"1\", registry = \"local\" }\n";
    let main = "fn main() { println!(\"yanky {}\", yanky::VERSION); }\n";

    // Before the yank, a new lockfile takes 1.1.0.
    let env = cargo_env_for(&reg);
    let locked = env.project_with_main(deps, main);
    env.cargo_ok(&locked, &["generate-lockfile"]);
    run_prints(&env, &locked, "yanky 1.1.0");

    common::regtool_ok([
        "--registry",
        reg.root().to_str().unwrap(),
        "yank",
        "yanky@1.1.0",
    ]);

    // An existing Cargo.lock pinning the yanked version still downloads and builds
    // it, even from a fresh CARGO_HOME (nothing cached).
    let env2 = cargo_env_for(&reg);
    let again = env2.project_with_main(deps, main);
    fs::copy(locked.join("Cargo.lock"), again.join("Cargo.lock")).unwrap();
    env2.cargo_ok(&again, &["build", "--locked"]);
    run_prints(&env2, &again, "yanky 1.1.0");

    // A fresh consumer no longer picks it.
    let env3 = cargo_env_for(&reg);
    let fresh = env3.project_with_main(deps, main);
    env3.cargo_ok(&fresh, &["generate-lockfile"]);
    run_prints(&env3, &fresh, "yanky 1.0.0");

    // Unyank restores it for new lockfiles.
    common::regtool_ok([
        "--registry",
        reg.root().to_str().unwrap(),
        "yank",
        "yanky@1.1.0",
        "--undo",
    ]);
    let env4 = cargo_env_for(&reg);
    let restored = env4.project_with_main(deps, main);
    env4.cargo_ok(&restored, &["generate-lockfile"]);
    run_prints(&env4, &restored, "yanky 1.1.0");
}
