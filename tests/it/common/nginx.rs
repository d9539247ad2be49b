//! A registry served by a real nginx, with the server block `regtool
//! nginx-config` writes: used by `nginx.rs`, `doctor.rs` and `tokens.rs`.
//! nginx comes from [`require_tool`] (`.ci/install.sh` installs it).

use super::*;

/// The nginx binary, or `None` (after [`skip_or_fail`]) when there is none.
pub fn nginx() -> Option<PathBuf> {
    require_tool(
        "nginx",
        "a real nginx serves the registry with the server block of `regtool nginx-config`",
    )
}

/// Whether this process runs as root (nginx then needs `user root;` to read
/// the test's files).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A token in the shape `openssl rand -hex 32` prints.
pub const TOKEN: &str = "3c1e0f5a9b7d42e6a8c0d1f2e3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f70";

/// A registry in a temp folder, served by an nginx started with regtool's
/// server block; nginx is killed when this is dropped.
pub struct NginxRegistry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    nginx: PathBuf,
    /// Whether nginx runs as a master and a worker (which `nginx -s reload` needs).
    master: bool,
}

impl Drop for NginxRegistry {
    fn drop(&mut self) {
        // A killed master would leave its worker behind: ask it to stop
        // (`nginx -s stop` sends SIGTERM to the pid in its pid file).
        if !(self.master && self.signal("stop").status.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl NginxRegistry {
    /// `regtool init` (with `init_args`), the token file for an auth registry,
    /// `regtool nginx-config --listen 127.0.0.1:PORT`, and nginx started on it.
    /// Retries on another port if the one picked was taken meanwhile.
    pub fn start(nginx: &Path, init_args: &[&str]) -> NginxRegistry {
        Self::start_with(nginx, init_args, false, &|root: &Path| {
            if init_args.contains(&"--auth-required") {
                fs::write(
                    root.join(".regtool/nginx-tokens.map"),
                    format!("# the CI token\n\"~^{TOKEN}$\" 1;\n"),
                )
                .expect("write token file");
            }
        })
    }

    /// Like [`NginxRegistry::start`], with `tokens` called on the registry
    /// folder after `init` and before `nginx-config` (to write the token file),
    /// and with `master` a master process and a worker, as nginx runs when
    /// installed, so that [`NginxRegistry::reload`] works (a single nginx
    /// process, `master_process off`, does not reload reliably).
    pub fn start_with(
        nginx: &Path,
        init_args: &[&str],
        master: bool,
        tokens: &dyn Fn(&Path),
    ) -> NginxRegistry {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(nginx, init_args, master, tokens) {
                Ok(reg) => return reg,
                Err(e) => last = e,
            }
        }
        panic!("nginx did not start:\n{last}");
    }

    fn try_start(
        nginx: &Path,
        init_args: &[&str],
        master: bool,
        tokens: &dyn Fn(&Path),
    ) -> Result<NginxRegistry, String> {
        let dir = tempdir();
        let port = free_port();
        let root = dir.path().join("registry");
        let mut args: Vec<std::ffi::OsString> = vec![
            "init".into(),
            root.clone().into(),
            "--url".into(),
            format!("http://127.0.0.1:{port}").into(),
        ];
        args.extend(init_args.iter().map(Into::into));
        regtool_ok(&args);
        tokens(&root);
        let out = regtool_ok([
            "--registry".as_ref(),
            root.as_os_str(),
            "nginx-config".as_ref(),
            "--listen".as_ref(),
            format!("127.0.0.1:{port}").as_ref(),
        ]);
        let block = String::from_utf8(out.stdout).expect("UTF-8 block");
        let ngx = dir.path().join("nginx");
        for sub in ["logs", "tmp"] {
            fs::create_dir_all(ngx.join(sub)).expect("create nginx folders");
        }
        fs::write(ngx.join("registry.conf"), &block).expect("write block");
        let conf = nginx_conf(
            &ngx,
            false,
            master,
            &format!("include {}/registry.conf;", ngx.display()),
        );
        fs::write(ngx.join("nginx.conf"), conf).expect("write nginx.conf");
        let mut child = nginx_command(nginx, &ngx)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", nginx.display()))?;
        let listening = wait_for_listener(port, Duration::from_secs(20), &mut || {
            let status = child.try_wait().ok()??;
            let log = fs::read_to_string(ngx.join("logs/error.log")).unwrap_or_default();
            Some(format!(
                "nginx exited ({status})\n--- error.log ---\n{log}\n--- server block ---\n{block}"
            ))
        });
        if let Err(e) = listening {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(NginxRegistry {
            child,
            port,
            dir,
            nginx: nginx.to_path_buf(),
            master,
        })
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("registry")
    }

    pub fn index_url(&self) -> String {
        format!("sparse+http://127.0.0.1:{}/", self.port)
    }

    pub fn publish(&self, krate: &CrateBuilder) -> PathBuf {
        let path = krate.write_to(&self.dir.path().join("scratch"));
        regtool_ok([
            "--registry".as_ref(),
            self.root().as_os_str(),
            "add".as_ref(),
            path.as_os_str(),
        ]);
        path
    }

    /// nginx's access log: one `STATUS METHOD URI` line per request.
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("nginx/logs/access.log")).unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_logged(&self, line: &str) {
        let log = self.access_log();
        assert!(
            log.lines().any(|l| l == line),
            "nginx's access log has no `{line}` line:\n{log}"
        );
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, "GET", path, headers)
    }

    pub fn head(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, "HEAD", path, headers)
    }

    /// `nginx -s reload`, as an admin runs it after a change of the token
    /// file: nginx rereads its configuration and the files it includes.
    pub fn reload(&self) {
        assert_success(&self.signal("reload"), "nginx -s reload");
    }

    /// `nginx -s SIGNAL` to this nginx (its pid file names the master).
    fn signal(&self, signal: &str) -> Output {
        let mut cmd = nginx_command(&self.nginx, &self.dir.path().join("nginx"));
        cmd.args(["-s", signal]);
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// nginx's error log, for messages.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("nginx/logs/error.log")).unwrap_or_default()
    }
}

/// The `nginx.conf` of an nginx whose prefix is `ngx` (logs and temp files in
/// it; `logs/` and `tmp/` must exist), the system's `mime.types` as a stock
/// install has it, `include` in its `http { }`; `daemon` on (the `nginx`
/// command returns once it runs) or off (the test's child process), with or
/// without a master process (which `nginx -s reload` needs).
fn nginx_conf(ngx: &Path, daemon: bool, master: bool, include: &str) -> String {
    let types = if Path::new("/etc/nginx/mime.types").is_file() {
        "include /etc/nginx/mime.types;".to_owned()
    } else {
        "types { text/html html; application/json json; }".to_owned()
    };
    let n = ngx.display();
    format!(
        "{user}daemon {daemon};\nmaster_process {master};\nworker_processes 1;\npid {n}/nginx.pid;\nerror_log {n}/logs/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n    {types}\n    default_type application/octet-stream;\n    \
         log_format regtool '$status $request_method $uri';\n    \
         access_log {n}/logs/access.log regtool;\n    \
         client_body_temp_path {n}/tmp/body;\n    proxy_temp_path {n}/tmp/proxy;\n    \
         fastcgi_temp_path {n}/tmp/fastcgi;\n    uwsgi_temp_path {n}/tmp/uwsgi;\n    \
         scgi_temp_path {n}/tmp/scgi;\n    \
         {include}\n}}\n",
        user = if is_root() { "user root;\n" } else { "" },
        daemon = if daemon { "on" } else { "off" },
        master = if master { "on" } else { "off" },
    )
}

/// nginx as an admin's machine has it, for README's commands: a prefix whose
/// `nginx.conf` includes every `conf.d/*.conf`, and a folder holding an
/// `nginx` script that runs the real nginx with that prefix and
/// configuration (put it first on `PATH`), so that README's `nginx -t`,
/// `nginx -s reload` and `nginx` act on this nginx and no other. It starts
/// stopped; it is stopped when dropped.
pub struct NginxHost {
    dir: tempfile::TempDir,
    nginx: PathBuf,
}

impl NginxHost {
    pub fn new(nginx: &Path) -> NginxHost {
        let dir = tempdir();
        let ngx = dir.path().join("prefix");
        for sub in ["logs", "tmp", "conf.d"] {
            fs::create_dir_all(ngx.join(sub)).expect("create nginx folders");
        }
        let include = format!("include {}/conf.d/*.conf;", ngx.display());
        fs::write(
            ngx.join("nginx.conf"),
            nginx_conf(&ngx, true, true, &include),
        )
        .expect("write nginx.conf");
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).expect("create bin");
        let cmd = nginx_command(nginx, &ngx);
        let words: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|w| format!("'{}'", w.to_string_lossy()))
            .collect();
        let shim = bin.join("nginx");
        fs::write(
            &shim,
            format!("#!/bin/sh\nexec {} \"$@\"\n", words.join(" ")),
        )
        .expect("write the nginx script");
        let executable = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        fs::set_permissions(&shim, executable).expect("chmod");
        NginxHost {
            dir,
            nginx: nginx.to_path_buf(),
        }
    }

    /// The folder of the `nginx` script, for the front of `PATH`.
    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The folder whose `*.conf` files nginx includes (`/etc/nginx/conf.d`).
    pub fn conf_d(&self) -> PathBuf {
        self.dir.path().join("prefix/conf.d")
    }

    /// Whether the nginx master named by the pid file runs.
    pub fn running(&self) -> bool {
        fs::read_to_string(self.dir.path().join("prefix/nginx.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    }

    /// nginx's error log.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("prefix/logs/error.log")).unwrap_or_default()
    }
}

impl Drop for NginxHost {
    fn drop(&mut self) {
        if self.running() {
            let mut cmd = nginx_command(&self.nginx, &self.dir.path().join("prefix"));
            cmd.args(["-s", "stop"]);
            let _ = run_with_timeout(cmd, Duration::from_secs(30));
        }
    }
}

/// `nginx` with the prefix, configuration and error log in `ngx`.
fn nginx_command(nginx: &Path, ngx: &Path) -> Command {
    let mut cmd = Command::new(nginx);
    cmd.arg("-p")
        .arg(ngx)
        .arg("-c")
        .arg(ngx.join("nginx.conf"))
        .arg("-e")
        .arg(ngx.join("logs/error.log"));
    cmd
}

fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    http_request(port, method, path, headers, b"")
}

pub type Response = HttpResponse;

pub fn two_crates(index_url: &str) -> (CrateBuilder, CrateBuilder) {
    let base =
        CrateBuilder::new("base-lib", "1.0.0").file("src/lib.rs", "pub fn base() -> u32 { 40 }\n");
    let app = CrateBuilder::new("app-lib", "1.1.0")
        .manifest_extra(&format!(
            "[dependencies.base-lib]\nversion = \"^1.0\"\nregistry-index = \"{index_url}\"\n"
        ))
        .file(
            "src/lib.rs",
            "pub fn answer() -> u32 { base_lib::base() + 2 }\n",
        );
    (base, app)
}

/// Publishes [`two_crates`] into `reg` and makes a cargo consumer of `app-lib`
/// from it: a registry `local` that needs a token (through cargo's
/// `cargo:token` credential provider), none given yet.
pub fn publish_two_crates_for_a_token_consumer(reg: &NginxRegistry) -> (CargoEnv, PathBuf) {
    let (base, app) = two_crates(&reg.index_url());
    reg.publish(&base);
    reg.publish(&app);
    let env = CargoEnv::new()
        .with_registry("local", &reg.index_url())
        .with_config("[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    let project = env.project("app-lib = { version = \"1\", registry = \"local\" }\n");
    (env, project)
}

#[track_caller]
pub fn assert_status(resp: &Response, status: u16, what: &str) {
    assert_eq!(
        resp.status,
        status,
        "{what}: {resp:?} (body: {})",
        String::from_utf8_lossy(&resp.body)
    );
}
