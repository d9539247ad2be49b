//! The browsable catalogue (`index.html`, a page per crate, `feed.atom`):
//! what `add`, `yank`, `remove`, `reindex`, `verify` and `settings` do with it,
//! and, in a real headless Chromium, that the search box filters and its
//! links lead to the crate pages (served over HTTP and from `file://`).

use crate::common::{self, CrateBuilder, StaticServer, TestRegistry, run_with_timeout, tree_all};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const README: &str = "# Base lib\n\nA **bold** claim, with `code`.\n\n\
<script>document.title = 'pwned'</script>\n\n\
<img src=\"https://example.org/x.png\" onerror=\"document.title = 'pwned'\">\n\n\
- one\n- two\n";

/// A registry with `base-lib` 1.0.0 (README, description, license,
/// repository) and a yanked 1.1.0, `app-lib` 0.3.0 depending on `base-lib`
/// (a same-registry dependency), and `other-tool`.
fn registry() -> TestRegistry {
    let reg = TestRegistry::new();
    let base = |v: &str| {
        CrateBuilder::new("base-lib", v)
            .manifest(format!(
                "{}description = \"The base of everything\"\nlicense = \"MIT OR Apache-2.0\"\n\
repository = \"https://example.org/base-lib\"\nreadme = \"README.md\"\nrust-version = \"1.70\"\n\n\
[lib]\npath = \"src/lib.rs\"\n\n[features]\nfast = []\n",
                format_args!(
                    "[package]\nedition = \"2021\"\nname = \"base-lib\"\nversion = \"{v}\"\n"
                )
            ))
            .file("README.md", README)
    };
    reg.publish(&base("1.0.0"));
    reg.publish(&base("1.1.0"));
    reg.ok(&[&"yank", &"base-lib@1.1.0"]);
    reg.publish(&CrateBuilder::new("app-lib", "0.3.0").manifest(format!(
        "[package]\nedition = \"2021\"\nname = \"app-lib\"\nversion = \"0.3.0\"\n\
description = \"An application\"\n\n[lib]\npath = \"src/lib.rs\"\n\n\
[dependencies.base-lib]\nversion = \"^1.0\"\nregistry-index = \"sparse+{}/\"\n",
        common::URL
    )));
    reg.publish(&CrateBuilder::new("other-tool", "0.1.0").manifest(
        "[package]\nedition = \"2021\"\nname = \"other-tool\"\nversion = \"0.1.0\"\n\
description = \"Something else\"\n\n[lib]\npath = \"src/lib.rs\"\n",
    ));
    reg
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn pages_follow_every_change() {
    let reg = registry();
    let root = &reg.root;
    let page = read(&root.join("catalogue/crates/base-lib.html"));
    assert!(
        page.contains("<h1>base-lib <span class=\"vers\">1.0.0</span></h1>"),
        "{page}"
    );
    assert!(page.contains("The base of everything"));
    assert!(page.contains("<dt>License</dt><dd>MIT OR Apache-2.0</dd>"));
    assert!(page.contains("<a href=\"https://example.org/base-lib\""));
    assert!(page.contains("<dt>MSRV</dt><dd>Rust 1.70</dd>"));
    assert!(page.contains("<li><code>fast</code></li>"));
    assert!(page.contains("<strong>bold</strong>"));
    assert!(
        !page.contains("<script>document") && !page.contains("onerror"),
        "{page}"
    );
    assert!(page.contains("<tr id=\"v1.1.0\" class=\"yanked\">"));
    assert!(page.contains("<time datetime=\"2023-11-14T22:13:20Z\">"));
    let app = read(&root.join("catalogue/crates/app-lib.html"));
    assert!(
        app.contains("<a href=\"base-lib.html\">base-lib</a> <code>^1.0</code>"),
        "{app}"
    );
    let search = read(&root.join("catalogue/search-index.js"));
    assert!(
        search.contains("[\"base-lib\",\"1.0.0\",\"The base of everything\"]"),
        "{search}"
    );
    let feed = read(&root.join("feed.atom"));
    assert_eq!(feed.matches("<entry>").count(), 4, "{feed}");
    assert!(root.join(".regtool/meta/base-lib/1.0.0.json").is_file());

    // The catalogue is not the index: verify finds nothing wrong, and a
    // reindex rewrites nothing (the second run leaves every byte as it is).
    let out = reg.ok(&[&"verify"]);
    assert!(
        common::stderr(&out).contains(": 0 problems"),
        "{}",
        common::stderr(&out)
    );
    reg.ok(&[&"reindex"]);
    let before = tree_all(root);
    reg.ok(&[&"reindex"]);
    assert_eq!(tree_all(root), before, "a second reindex changes nothing");

    // remove: the page, the search entry and the stored metadata go.
    reg.ok(&[&"remove", &"other-tool@0.1.0"]);
    assert!(!root.join("catalogue/crates/other-tool.html").exists());
    assert!(!root.join(".regtool/meta/other-tool/0.1.0.json").exists());
    assert!(!read(&root.join("catalogue/search-index.js")).contains("other-tool"));
    assert!(!read(&root.join("feed.atom")).contains("other-tool"));

    // Lost catalogue files come back with reindex.
    fs::remove_dir_all(root.join("catalogue")).unwrap();
    fs::remove_file(root.join(".regtool/catalogue.json")).unwrap();
    reg.ok(&[&"reindex"]);
    assert_eq!(read(&root.join("catalogue/crates/base-lib.html")), page);

    // Off: the files go, and adds write none; on again: written whole.
    reg.ok(&[&"settings", &"--html", &"false"]);
    for f in [
        "index.html",
        "feed.atom",
        "catalogue",
        ".regtool/catalogue.json",
    ] {
        assert!(!root.join(f).exists(), "{f} left after --html false");
    }
    reg.publish(&CrateBuilder::new("late", "1.0.0"));
    assert!(!root.join("index.html").exists());
    reg.ok(&[&"settings", &"--html", &"true"]);
    assert!(root.join("catalogue/crates/late.html").is_file());
    assert!(root.join("index.html").is_file());
}

#[test]
fn the_next_change_finishes_what_a_killed_run_left() {
    // A run killed between an index write and the catalogue update leaves
    // the crate's marker (written before the index file); the next change, of
    // any crate, writes that crate's page and removes the marker.
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let page = reg.root.join("catalogue/crates/foo.html");
    let before = read(&page);
    fs::remove_file(&page).unwrap();
    let marker = reg.root.join(".regtool/catalogue-pending/foo");
    fs::create_dir_all(marker.parent().unwrap()).unwrap();
    fs::write(&marker, "foo").unwrap();
    reg.publish(&CrateBuilder::new("bar", "1.0.0"));
    assert_eq!(read(&page), before);
    assert!(!marker.exists());
    let pending = reg.root.join(".regtool/catalogue-pending");
    assert!(!pending.exists() || pending.read_dir().unwrap().next().is_none());
}

#[test]
fn no_html_registry_and_registry_from_before_the_catalogue() {
    let reg = TestRegistry::init(&["--no-html"]);
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    for f in [
        "index.html",
        "feed.atom",
        "catalogue",
        ".regtool/catalogue.json",
        ".regtool/meta",
    ] {
        assert!(!reg.root.join(f).exists(), "{f} in a --no-html registry");
    }
    assert!(read(&reg.root.join(".regtool/config.toml")).contains("html = false"));

    // Settings without the `html` key (a registry made before the catalogue):
    // on, and the first change writes the whole catalogue, older crates too.
    let settings = reg.root.join(".regtool/config.toml");
    fs::write(&settings, read(&settings).replace("html = false\n", "")).unwrap();
    reg.publish(&CrateBuilder::new("bar", "1.0.0"));
    for name in ["foo", "bar"] {
        assert!(
            reg.root
                .join(format!("catalogue/crates/{name}.html"))
                .is_file(),
            "{name}"
        );
    }
    let search = read(&reg.root.join("catalogue/search-index.js"));
    assert!(
        search.contains("\"foo\"") && search.contains("\"bar\""),
        "{search}"
    );
}

/// Runs headless Chromium on `url` with `args` (`--dump-dom`,
/// `--screenshot=...`); returns its stdout.
fn browse(bin: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "chromium {args:?} {url} failed:\n{}",
        common::describe_output(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `href` of the first result link in a dumped `index.html`.
fn first_result_href(dom: &str) -> String {
    let list = &dom[dom.find("<ul id=\"results\">").expect("the result list")..];
    let at = list.find("<a href=\"").expect("a result link") + "<a href=\"".len();
    list[at..at + list[at..].find('"').unwrap()].to_string()
}

#[test]
fn search_and_follow_a_link_in_chromium() {
    let Some(bin) = common::require_tool(
        "chromium",
        "a headless browser runs the catalogue's search script and follows its links",
    ) else {
        return;
    };
    let reg = registry();
    let server = StaticServer::start(&reg.root);
    let profile = common::tempdir();
    // The page at `path` on the server, as the browser left it.
    let dom_of = |path: &str| {
        browse(
            &bin,
            profile.path(),
            &["--dump-dom"],
            &format!("{}/{path}", server.url()),
        )
    };

    // Search: `?q=` is what the search form sends; the script filters on it.
    let dom = dom_of("index.html?q=base");
    assert!(dom.contains("1 of 3 crates"), "{dom}");
    assert!(dom.contains(">base-lib</a>"), "{dom}");
    assert!(
        !dom.contains(">app-lib</a>") && !dom.contains(">other-tool</a>"),
        "{dom}"
    );
    // A description word finds its crate too; no query lists every crate.
    let dom_all = dom_of("index.html");
    for name in ["base-lib", "app-lib", "other-tool"] {
        assert!(
            dom_all.contains(&format!(">{name}</a>")),
            "{name} in {dom_all}"
        );
    }
    let dom_desc = dom_of("index.html?q=application");
    assert!(dom_desc.contains(">app-lib</a>") && !dom_desc.contains(">base-lib</a>"));

    // Follow the result's link: the crate page, README rendered, script gone.
    let href = first_result_href(&dom);
    assert_eq!(href, "catalogue/crates/base-lib.html");
    let page = dom_of(&href);
    assert!(
        page.contains("<title>base-lib 1.0.0</title>"),
        "the README's script did not run: {page}"
    );
    assert!(page.contains("<strong>bold</strong>"), "{page}");
    assert!(!page.contains("pwned"), "{page}");
    assert!(page.contains("class=\"yanked\""), "{page}");
    assert!(
        server.count("/catalogue/style.css") > 0,
        "the page loads its style sheet"
    );

    // From a folder (file://), without any server.
    let file_url = format!("file://{}/index.html?q=other", reg.root.display());
    let dom_file = browse(&bin, profile.path(), &["--dump-dom"], &file_url);
    assert!(
        dom_file.contains(">other-tool</a>") && !dom_file.contains(">base-lib</a>"),
        "{dom_file}"
    );

    // A screenshot of the search, kept under target/ for people to look at.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("catalogue");
    fs::create_dir_all(&shots).unwrap();
    for (file, url) in [
        ("search.png", format!("{}/index.html?q=lib", server.url())),
        ("crate-page.png", format!("{}/{href}", server.url())),
    ] {
        let shot = shots.join(file);
        let _ = fs::remove_file(&shot);
        browse(
            &bin,
            profile.path(),
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1200,900",
            ],
            &url,
        );
        let png = fs::read(&shot).expect("a screenshot");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is a PNG",
            shot.display()
        );
        println!("screenshot: {}", shot.display());
    }
}
