//! README.md's first hour, taken from README.md itself and run (as
//! `ci_recipe.rs` does for the CI jobs), so that README cannot drift: the
//! quickstart (a registry served by `python3 -m http.server`, then cargo adds,
//! builds and runs a crate from it), nginx's start-or-reload step on a stopped
//! and on a running nginx, `token add` and `cargo login` against a private
//! registry, and `doctor`. Each block is found between `<!-- first-hour:NAME -->`
//! markers; its example values (`/srv/registry`, `crates.example.com`, port
//! `8000`, `sudo`) are replaced by the test's own, and a replacement whose text
//! README no longer holds fails the test ([`common::substitute`]). Real cargo
//! and nginx are the judges; nothing is installed (`cargo install` of the
//! quickstart is checked, not run: the regtool under test is first on PATH).

use crate::common::{
    self, CargoEnv, HttpResponse, NginxHost, assert_success, bash, describe_output, free_port,
    http_request, nginx, readme_block, regtool_ok, run_with_timeout, substitute, tempdir,
    two_crates, wait_for_listener,
};

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sh block `tag`, with `replacements` made.
#[track_caller]
fn sh(tag: &str, replacements: &[(&str, &str)]) -> String {
    let block = readme_block(&format!("first-hour:{tag}"));
    assert_eq!(block.lang, "sh", "first-hour:{tag} is not a ```sh block");
    substitute(&block.text, replacements)
}

/// A process group running in the background (the quickstart's web server),
/// killed whole when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &pgid])
            .status();
        let _ = self.0.wait();
    }
}

/// GET `path` from 127.0.0.1:`port`.
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request(port, "GET", path, headers, b"")
}

#[test]
fn quickstart_serves_the_example_crates_and_cargo_runs_one() {
    // The install: the command README gives (not run: tests install nothing).
    let install = readme_block("first-hour:install");
    assert_eq!(install.text.trim(), "cargo install --locked --path .");

    // The registry, served by python's web server. The example crates name
    // http://127.0.0.1:8000/; the test serves on a free port instead, with
    // that URL as an alias so their dependency stays on this registry.
    let tmp = tempdir();
    let port = free_port();
    let folder = tmp.path().join("regtool-example");
    let url = format!("--url http://127.0.0.1:{port} --alias http://127.0.0.1:8000");
    let server = format!("http.server {port} ");
    let script = sh(
        "registry",
        &[
            ("/tmp/regtool-example", folder.to_str().unwrap()),
            ("--url http://127.0.0.1:8000", &url),
            ("http.server 8000 ", &server),
        ],
    );
    let log = tmp.path().join("registry.log");
    let log_file = fs::File::create(&log).unwrap();
    let mut cmd = bash(&script, &repo(), &[], &[]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .process_group(0);
    let mut child = Background(cmd.spawn().expect("run bash"));
    let served = wait_for_listener(port, Duration::from_secs(60), &mut || {
        let status = child.0.try_wait().ok()??;
        Some(format!(
            "the quickstart exited ({status}) before serving:\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        ))
    });
    if let Err(e) = served {
        panic!("{e}");
    }
    let notes = fs::read_to_string(&log).unwrap();
    assert!(
        notes.contains("Created registry `example`"),
        "init's notes:\n{notes}"
    );

    // cargo's side, in another folder with its own CARGO_HOME.
    let script = sh("cargo", &[("127.0.0.1:8000", &format!("127.0.0.1:{port}"))]);
    // What README's printf writes is what `init` printed for the registry.
    let config = format!("[registries.example]\n    index = \"sparse+http://127.0.0.1:{port}/\"\n");
    assert!(
        script.contains("printf '[registries.example]\\nindex = \"sparse+http://127.0.0.1:")
            && notes.contains(&config),
        "README's cargo config is not the one `init` prints ({config:?}):\n{notes}"
    );
    let env = CargoEnv::new();
    let work = tmp.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let home = env.home();
    let mut cmd = bash(
        &script,
        &work,
        &[],
        &[
            ("CARGO_HOME", home.to_str().unwrap()),
            ("CARGO_TARGET_DIR", ""),
        ],
    );
    cmd.stdin(Stdio::null());
    let out = run_with_timeout(cmd, common::CARGO_TIMEOUT);
    assert_success(&out, &format!("README's cargo side:\n{script}"));
    let printed = script
        .lines()
        .find_map(|l| l.split_once("# prints: ").map(|(_, p)| p.trim().to_owned()))
        .expect("README says what `cargo run` prints");
    assert_eq!(stdout(&out).trim(), printed, "{}", describe_output(&out));
    drop(child);
}

/// A registry folder at http://127.0.0.1:PORT with one crate whose name has
/// uppercase letters (what `doctor` likes to probe), `init_args` added.
fn registry(tmp: &Path, port: u16, init_args: &[&str]) -> PathBuf {
    let root = tmp.join("srv-registry");
    let url = format!("http://127.0.0.1:{port}");
    let mut args = vec!["init", root.to_str().unwrap(), "--url", &url];
    args.extend(init_args);
    regtool_ok(&args);
    let (base, app) = two_crates(&format!("sparse+{url}/"));
    for krate in [base, app] {
        let path = krate.write_to(&tmp.join("scratch"));
        regtool_ok([
            "--registry".as_ref(),
            root.as_os_str(),
            "add".as_ref(),
            path.as_os_str(),
        ]);
    }
    root
}

/// README's nginx step for `root`, served on 127.0.0.1:`port` by `host`.
fn nginx_step(root: &Path, port: u16, host: &NginxHost) -> String {
    let conf = host.conf_d().join("registry.conf");
    sh(
        "nginx",
        &[
            ("sudo ", ""),
            ("/srv/registry", root.to_str().unwrap()),
            ("--listen 80", &format!("--listen 127.0.0.1:{port}")),
            ("/etc/nginx/conf.d/registry.conf", conf.to_str().unwrap()),
        ],
    )
}

/// Runs `script` in `dir` with `host`'s nginx first on PATH.
#[track_caller]
fn run_as_admin(script: &str, dir: &Path, host: &NginxHost) -> Output {
    let bin = host.bin();
    let mut cmd = bash(script, dir, &[&bin], &[]);
    cmd.stdin(Stdio::null());
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert_success(
        &out,
        &format!("{script}\n--- nginx's error log ---\n{}", host.error_log()),
    );
    out
}

#[test]
fn the_nginx_step_starts_a_stopped_nginx_and_reloads_a_running_one() {
    let Some(bin) = nginx() else { return };
    let tmp = tempdir();
    let port = free_port();
    let root = registry(tmp.path(), port, &[]);
    let host = NginxHost::new(&bin);
    let script = nginx_step(&root, port, &host);
    // The step's last line is the start-or-reload form regtool prints.
    assert!(
        script.contains("nginx -t && (nginx -s reload || nginx)"),
        "{script}"
    );

    // nginx is not running: the step starts it.
    assert!(!host.running());
    run_as_admin(&script, tmp.path(), &host);
    wait_for_listener(port, Duration::from_secs(20), &mut || None).unwrap();
    assert!(host.running(), "{}", host.error_log());
    let cfg = get(port, "/config.json", &[]);
    assert_eq!(cfg.status, 200, "{cfg:?}");

    // nginx runs: the same step reloads it, and it serves what it read.
    let before = host.error_log().matches("reconfiguring").count();
    run_as_admin(&script, tmp.path(), &host);
    // `nginx -s reload` returns once it signalled the master, which logs the
    // reload a moment later.
    let reloaded = || host.error_log().matches("reconfiguring").count() > before;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !reloaded() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(reloaded(), "no reload:\n{}", host.error_log());
    assert_eq!(get(port, "/ap/p-/app-lib", &[]).status, 200);
    assert_eq!(get(port, "/.regtool/config.toml", &[]).status, 404);

    // doctor, as README runs it: the checks README shows, all passing here.
    let doctor = readme_block("first-hour:doctor");
    assert_eq!(doctor.lang, "console");
    let command = doctor
        .text
        .lines()
        .find_map(|l| l.strip_prefix("$ "))
        .expect("README's doctor block shows a command");
    let command = substitute(
        command,
        &[
            ("/srv/registry", root.to_str().unwrap()),
            (
                "https://crates.example.com",
                &format!("http://127.0.0.1:{port}"),
            ),
        ],
    );
    let out = run_as_admin(&command, tmp.path(), &host);
    let checks = |text: &str| -> Vec<String> {
        let mut names: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with("$ "))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        names.dedup();
        names
    };
    assert_eq!(
        checks(&stdout(&out)),
        checks(&doctor.text),
        "README's doctor example shows other checks than doctor makes:\n{}",
        describe_output(&out)
    );
    for line in stdout(&out).lines() {
        assert!(line.starts_with("ok "), "{}", describe_output(&out));
    }
}

#[test]
fn a_token_added_as_readme_says_lets_cargo_in_after_cargo_login() {
    let Some(bin) = nginx() else { return };
    let tmp = tempdir();
    let port = free_port();
    // README's private registry is served at https://crates.example.com, whose
    // name is `example`: this one is at 127.0.0.1, so it is named so.
    let root = registry(tmp.path(), port, &["--auth-required", "--name", "example"]);
    let host = NginxHost::new(&bin);

    // token add, then nginx reads the token file (it starts here: nginx-config
    // refuses a private registry before its first token).
    let script = sh(
        "token",
        &[("sudo ", ""), ("/srv/registry", root.to_str().unwrap())],
    );
    let out = run_as_admin(&script, tmp.path(), &host);
    let token = stdout(&out).lines().next().unwrap_or_default().to_owned();
    assert!(token.starts_with("rgt_"), "{}", describe_output(&out));
    assert!(stdout(&out).contains("ci-build"), "token list shows it");
    assert!(host.running(), "{}", host.error_log());
    run_as_admin(&nginx_step(&root, port, &host), tmp.path(), &host);
    wait_for_listener(port, Duration::from_secs(20), &mut || None).unwrap();
    assert_eq!(get(port, "/config.json", &[]).status, 401);

    // cargo's side: README's configuration (which is what `init` prints for
    // README's registry), then `cargo login` with the token on stdin.
    let config = readme_block("first-hour:cargo-config-token");
    assert_eq!(config.lang, "toml");
    let dir = tempdir();
    let printed = stderr(&regtool_ok([
        "init".as_ref(),
        dir.path().join("r").as_os_str(),
        "--url".as_ref(),
        "https://crates.example.com".as_ref(),
        "--auth-required".as_ref(),
    ]));
    for line in config.text.lines().filter(|l| !l.starts_with('#')) {
        let shown = if line.is_empty() {
            "\n\n".to_owned()
        } else {
            format!("    {line}\n")
        };
        assert!(
            printed.contains(&shown),
            "README's {line:?} is not what `init --auth-required` prints:\n{printed}"
        );
    }
    let config = substitute(
        &config.text,
        &[(
            "https://crates.example.com",
            &format!("http://127.0.0.1:{port}"),
        )],
    );
    let env = CargoEnv::new().with_config(&config);
    let project = env.project("app-lib = { version = \"1\", registry = \"example\" }\n");
    env.cargo_fails(&project, &["generate-lockfile"], "before cargo login");
    let login = sh("cargo-login", &[]);
    let home = env.home();
    let mut cmd = bash(
        &login,
        &project,
        &[],
        &[("CARGO_HOME", home.to_str().unwrap())],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run cargo login");
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out, &format!("README's {login}"));
    env.cargo_ok(&project, &["generate-lockfile"]);
    env.cargo_ok(&project, &["fetch"]);
}
