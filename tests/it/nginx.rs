//! End-to-end tests of `regtool nginx-config` with a real nginx and the real
//! cargo: regtool writes a registry and the server block, nginx serves it from a
//! temp folder on 127.0.0.1, and cargo resolves and downloads through it (the
//! harness is [`common::NginxRegistry`]; without nginx these tests skip with a
//! note, and fail in CI: [`common::require_tool`]).

use crate::common::{
    self, CargoEnv, NginxRegistry, TOKEN, assert_status, nginx,
    publish_two_crates_for_a_token_consumer, regtool, regtool_ok, run_with_timeout, two_crates,
};

use std::fs;
use std::process::Output;

#[test]
fn cargo_resolves_and_fetches_through_nginx() {
    let Some(bin) = nginx() else { return };
    let reg = NginxRegistry::start(&bin, &[]);
    let (base, app) = two_crates(&reg.index_url());
    reg.publish(&base);
    let app_path = reg.publish(&app);

    let env = CargoEnv::new().with_registry("local", &reg.index_url());
    let project = env.project("app-lib = { version = \"1\", registry = \"local\" }\n");
    env.cargo_ok(&project, &["generate-lockfile"]);
    env.cargo_ok(&project, &["fetch"]);
    reg.assert_logged("200 GET /config.json");
    reg.assert_logged("200 GET /ap/p-/app-lib");
    reg.assert_logged("200 GET /ba/se/base-lib");
    reg.assert_logged("200 GET /crates/app-lib/app-lib-1.1.0.crate");
    reg.assert_logged("200 GET /crates/base-lib/base-lib-1.0.0.crate");

    // A second resolution revalidates cargo's cached index files: nginx answers
    // 304 because nothing changed.
    env.cargo_ok(&project, &["update"]);
    let log = reg.access_log();
    assert!(
        log.lines()
            .any(|l| l == "304 GET /ap/p-/app-lib" || l == "304 GET /ba/se/base-lib"),
        "no 304 for an index file after `cargo update`:\n{log}"
    );

    // Index files: text/plain, ETag and Last-Modified, revalidated on every use.
    let index = reg.get("/ap/p-/app-lib", &[]);
    assert_status(&index, 200, "index file");
    assert_eq!(
        index.body,
        fs::read(reg.root().join("ap/p-/app-lib")).unwrap()
    );
    assert!(
        index
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{index:?}"
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"), "{index:?}");
    let etag = index.header("etag").expect("ETag on index file").to_owned();
    let modified = index
        .header("last-modified")
        .expect("Last-Modified on index file")
        .to_owned();
    let cond = reg.get("/ap/p-/app-lib", &[("If-None-Match", &etag)]);
    assert_status(&cond, 304, "If-None-Match with the current ETag");
    assert!(cond.body.is_empty());
    let cond = reg.get("/ap/p-/app-lib", &[("If-Modified-Since", &modified)]);
    assert_status(
        &cond,
        304,
        "If-Modified-Since with the current Last-Modified",
    );
    reg.assert_logged("304 GET /ap/p-/app-lib");

    // config.json as JSON; .crate files as immutable, byte for byte.
    let cfg = reg.get("/config.json", &[]);
    assert_status(&cfg, 200, "config.json");
    assert_eq!(cfg.header("content-type"), Some("application/json"));
    let krate = reg.get("/crates/app-lib/app-lib-1.1.0.crate", &[]);
    assert_status(&krate, 200, ".crate");
    assert_eq!(krate.body, fs::read(&app_path).unwrap());
    let cc = krate.header("cache-control").unwrap_or_default();
    assert!(
        cc.contains("immutable") && cc.contains("max-age=31536000"),
        "{krate:?}"
    );

    // The catalogue (regtool's `html` feature): `/` is index.html; pages,
    // scripts, style sheet and feed with their types, revalidated.
    if cfg!(feature = "html") {
        for (path, file, ty) in [
            ("/", "index.html", "text/html; charset=utf-8"),
            ("/index.html", "index.html", "text/html; charset=utf-8"),
            (
                "/catalogue/crates/app-lib.html",
                "catalogue/crates/app-lib.html",
                "text/html; charset=utf-8",
            ),
            (
                "/catalogue/search-index.js",
                "catalogue/search-index.js",
                "text/javascript; charset=utf-8",
            ),
            (
                "/catalogue/search.js",
                "catalogue/search.js",
                "text/javascript; charset=utf-8",
            ),
            (
                "/catalogue/style.css",
                "catalogue/style.css",
                "text/css; charset=utf-8",
            ),
            ("/feed.atom", "feed.atom", "application/atom+xml"),
        ] {
            let resp = reg.get(path, &[]);
            assert_status(&resp, 200, &format!("GET {path}"));
            assert_eq!(
                resp.body,
                fs::read(reg.root().join(file)).unwrap(),
                "{path}"
            );
            assert_eq!(resp.header("content-type"), Some(ty), "{path}: {resp:?}");
            assert_eq!(resp.header("cache-control"), Some("no-cache"), "{path}");
        }
    }
    fs::create_dir_all(reg.root().join("catalogue")).unwrap();
    fs::write(reg.root().join("catalogue/notes.txt"), "private").unwrap();

    // Never served: regtool's folder (GET and HEAD), dotfiles, unknown crates,
    // folders (no listings), files that are not the registry's.
    fs::write(reg.root().join("ap/p-/.app-lib.tmp"), "half-written").unwrap();
    fs::write(reg.root().join("crates/app-lib/notes.txt"), "private").unwrap();
    fs::write(reg.root().join("README.md"), "private").unwrap();
    for path in [
        "/.regtool/config.toml",
        "/.regtool/",
        "/.regtool",
        "/%2Eregtool/config.toml",
        "/ap/p-/.app-lib.tmp",
        "/3/x/xyz",
        "/un/kn/unknown-crate",
        "/ap/",
        "/ap/p-/",
        "/crates/",
        "/crates/app-lib/",
        "/crates/app-lib/notes.txt",
        "/crates/nope/nope-1.0.0.crate",
        "/README.md",
        "/catalogue/",
        "/catalogue/crates/",
        "/catalogue/notes.txt",
        "/catalogue/crates/nope.html",
        "/.regtool/catalogue.json",
        "/.regtool/meta/app-lib/1.1.0.json",
    ] {
        assert_status(&reg.get(path, &[]), 404, &format!("GET {path}"));
    }
    let head = reg.head("/.regtool/config.toml", &[]);
    assert_status(&head, 404, "HEAD /.regtool/config.toml");
    reg.assert_logged("404 HEAD /.regtool/config.toml");
    reg.assert_logged("404 GET /3/x/xyz");

    // A change is seen at once: the old ETag no longer matches.
    regtool_ok([
        "--registry".as_ref(),
        reg.root().as_os_str(),
        "yank".as_ref(),
        "app-lib@1.1.0".as_ref(),
    ]);
    let after = reg.get("/ap/p-/app-lib", &[("If-None-Match", &etag)]);
    assert_status(
        &after,
        200,
        "If-None-Match with the ETag from before the yank",
    );
    assert!(String::from_utf8_lossy(&after.body).contains("\"yanked\":true"));
    if cfg!(feature = "html") {
        let page = reg.get("/catalogue/crates/app-lib.html", &[]);
        assert!(
            String::from_utf8_lossy(&page.body).contains("<tr id=\"v1.1.0\" class=\"yanked\">"),
            "the yank shows on the crate page"
        );
    }

    // Turned off, the catalogue is gone: `/` is a 404 again.
    regtool_ok([
        "--registry".as_ref(),
        reg.root().as_os_str(),
        "settings".as_ref(),
        "--html".as_ref(),
        "false".as_ref(),
    ]);
    for path in [
        "/",
        "/index.html",
        "/catalogue/crates/app-lib.html",
        "/feed.atom",
    ] {
        assert_status(
            &reg.get(path, &[]),
            404,
            &format!("GET {path} with --html false"),
        );
    }
}

#[test]
fn auth_registry_needs_a_token_through_nginx() {
    let Some(bin) = nginx() else { return };
    let reg = NginxRegistry::start(&bin, &["--auth-required"]);
    let (env, project) = publish_two_crates_for_a_token_consumer(&reg);

    // Without a token: cargo is refused, and nginx logged the 401.
    env.cargo_fails(&project, &["generate-lockfile"], "without a token");
    reg.assert_logged("401 GET /config.json");
    assert!(
        !reg.access_log().contains("200 GET"),
        "{}",
        reg.access_log()
    );

    // With the token: cargo resolves and downloads.
    let with_token = |args: &[&str]| -> Output {
        let mut cmd = env.command(&project);
        cmd.args(args).env("CARGO_REGISTRIES_LOCAL_TOKEN", TOKEN);
        let out = run_with_timeout(cmd, common::CARGO_TIMEOUT);
        common::assert_success(&out, &format!("cargo {} (with token)", args.join(" ")));
        out
    };
    with_token(&["generate-lockfile"]);
    with_token(&["fetch"]);
    reg.assert_logged("200 GET /config.json");
    reg.assert_logged("200 GET /ap/p-/app-lib");
    reg.assert_logged("200 GET /crates/app-lib/app-lib-1.1.0.crate");
    reg.assert_logged("200 GET /crates/base-lib/base-lib-1.0.0.crate");

    // A wrong token: cargo shows the 401 page's body, which says what to do
    // with the registry's name (`local`: its URL's host is an IP address).
    let out = {
        let mut cmd = env.command(&project);
        cmd.args(["generate-lockfile"])
            .env("CARGO_REGISTRIES_LOCAL_TOKEN", "rgt_not_a_token");
        run_with_timeout(cmd, common::CARGO_TIMEOUT)
    };
    assert!(!out.status.success(), "{}", common::describe_output(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("got 401")
            && err.contains("body:")
            && err.contains("This registry needs a valid token: give cargo yours with `cargo login --registry local` (or in CARGO_REGISTRIES_LOCAL_TOKEN)"),
        "cargo does not show the 401 page:\n{err}"
    );

    // Every path needs the token, and a wrong one is a 401 cargo understands.
    // (The harness's nginx includes the system's mime.types, which maps
    // `.json` and `.html` to other types.)
    let catalogue = cfg!(feature = "html").then_some("/index.html");
    for path in [
        "/config.json",
        "/ap/p-/app-lib",
        "/crates/app-lib/app-lib-1.1.0.crate",
    ]
    .into_iter()
    .chain(catalogue)
    {
        let resp = reg.get(path, &[("Authorization", "0000")]);
        assert_status(&resp, 401, &format!("GET {path} with a wrong token"));
        assert_eq!(resp.header("www-authenticate"), Some("Cargo"), "{resp:?}");
        // The page is the plain text its Content-Type says.
        assert_eq!(resp.header("content-type"), Some("text/plain"), "{resp:?}");
        let body = String::from_utf8(resp.body.clone()).expect("a UTF-8 401 page");
        assert!(
            body.starts_with("This registry needs a valid token")
                && body.ends_with(".\n")
                && !body.contains(['{', '<']),
            "{body:?}"
        );
        assert_status(
            &reg.get(path, &[]),
            401,
            &format!("GET {path} without token"),
        );
        let ok = reg.get(path, &[("Authorization", TOKEN)]);
        assert_status(&ok, 200, &format!("GET {path} with the token"));
        assert!(
            ok.header("cache-control")
                .is_some_and(|c| c.starts_with("private")),
            "{ok:?}"
        );
    }
    // The match is exact: case counts, and so does every character.
    for wrong in [
        TOKEN.to_ascii_uppercase(),
        format!("{TOKEN}0"),
        TOKEN[1..].to_owned(),
    ] {
        assert_status(
            &reg.get("/config.json", &[("Authorization", &wrong)]),
            401,
            &format!("token {wrong}"),
        );
    }
    // Cargo sends the raw token: a `Bearer` prefix is not the token.
    assert_status(
        &reg.get(
            "/config.json",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        ),
        401,
        "Bearer TOKEN",
    );
    // The token file itself is never served, token or not.
    for path in ["/.regtool/nginx-tokens.map", "/.regtool/config.toml"] {
        assert_status(
            &reg.get(path, &[("Authorization", TOKEN)]),
            404,
            &format!("GET {path} with the token"),
        );
    }
}

#[test]
fn nginx_config_needs_the_token_file_of_an_auth_registry() {
    // No nginx needed: regtool refuses before writing a block nginx would refuse.
    let dir = common::tempdir();
    let root = dir.path().join("registry");
    let root_s = root.to_str().unwrap();
    regtool_ok([
        "init",
        root_s,
        "--url",
        "https://crates.example.com",
        "--auth-required",
    ]);
    let out = run_with_timeout(
        {
            let mut c = regtool();
            c.args(["--registry", root_s, "nginx-config"]);
            c
        },
        common::REGTOOL_TIMEOUT,
    );
    common::assert_exit_code(&out, 2, "nginx-config without a token file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(".regtool/nginx-tokens.map") && err.contains("does not exist"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "printed a block anyway");

    let tokens = dir.path().join("tokens.map");
    fs::write(&tokens, format!("\"~^{TOKEN}$\" 1;\n")).unwrap();
    let out = regtool_ok([
        "--registry",
        root_s,
        "nginx-config",
        "--token-file",
        tokens.to_str().unwrap(),
    ]);
    let block = String::from_utf8_lossy(&out.stdout);
    let abs = fs::canonicalize(&tokens).unwrap();
    assert!(
        block.contains(&format!("include \"{}\";", abs.display())),
        "{block}"
    );
    assert!(!block.contains(TOKEN), "the block must not hold the tokens");
}
