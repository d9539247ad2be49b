//! The browsable catalogue (`index.html`, a page per crate, `feed.atom`):
//! what `add`, `yank`, `remove`, `reindex`, `verify` and `settings` do with it,
//! and, in a real headless Chromium, that the search box filters and its
//! links lead to the crate pages (served over HTTP and from `file://`).

use crate::common::{self, CrateBuilder, StaticServer, TestRegistry, run_with_timeout, tree_all};
use std::fs;
use std::path::{Path, PathBuf};
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
    // One file per crate: the page carries the metadata it shows.
    assert!(!root.join(".regtool/meta").exists());
    assert!(page.contains("<!--regtool-record {\"cksum\":"), "{page}");

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

    // remove: the page and the search entry go.
    reg.ok(&[&"remove", &"other-tool@0.1.0"]);
    assert!(!root.join("catalogue/crates/other-tool.html").exists());
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
    // the crate in the pending work (written before the index file); the
    // next change, of any crate, writes that crate's page and clears it.
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("foo", "1.0.0"));
    let page = reg.root.join("catalogue/crates/foo.html");
    let before = read(&page);
    fs::remove_file(&page).unwrap();
    let pending = reg.root.join(".regtool/catalogue-pending.json");
    fs::write(&pending, r#"{"crates":["foo"]}"#).unwrap();
    let verify = reg.run(&[&"verify"]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        said.contains("left work on the catalogue pending (the pages of foo)")
            && said.contains("foo.html`: crate `foo` has no catalogue page; `regtool reindex`"),
        "{said}"
    );
    reg.publish(&CrateBuilder::new("bar", "1.0.0"));
    assert_eq!(read(&page), before);
    assert!(!pending.exists());
    reg.ok(&[&"verify"]);
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

/// The catalogue page of `name` in `reg`.
fn page_of(reg: &TestRegistry, name: &str) -> String {
    read(&reg.root.join(format!("catalogue/crates/{name}.html")))
}

/// Asserts that `html` (a crate page) parses without a single HTML parse
/// error and holds no script, event handler or `javascript:` URL.
fn assert_clean_page(html: &str) {
    let found = common::check_html(html);
    assert!(found.errors.is_empty(), "{:?}\n{html}", found.errors);
    assert_eq!(found.scripts, 0, "{html}");
    assert!(found.handlers.is_empty(), "{:?}", found.handlers);
    assert!(found.script_urls.is_empty(), "{:?}", found.script_urls);
}

/// Issue 18: a `.crate` whose bytes match its line but are not a gzip'd tar
/// (as `mirror` used to store) made the catalogue fail; the change exited 1
/// and left its crate pending, so that every later `add` of any valid crate
/// wrote its line and still exited 1, while `verify` saw nothing. The page
/// now shows the index line (one warning, said once), and nothing fails.
#[test]
fn a_crate_file_that_cannot_be_read_fails_no_change() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("good", "1.0.0"));
    let bytes = b"not a gzip'd tar at all".to_vec();
    let line = format!(
        r#"{{"name":"bad","vers":"1.0.0","deps":[],"cksum":"{}","features":{{}},"yanked":false,"v":2}}"#,
        common::sha256_hex(&bytes)
    );
    let index = reg.index_file("bad");
    fs::create_dir_all(index.parent().unwrap()).unwrap();
    fs::write(&index, format!("{line}\n")).unwrap();
    let file = reg.crate_file("bad", "1.0.0");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, &bytes).unwrap();

    let out = reg.ok(&[&"yank", &"bad@1.0.0"]);
    let said = common::stderr(&out);
    assert!(
        said.contains("warning: the catalogue page of bad v1.0.0 shows its index line only"),
        "{said}"
    );
    let page = page_of(&reg, "bad");
    assert!(
        page.contains("<tr id=\"v1.0.0\" class=\"yanked\">"),
        "{page}"
    );
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        let out = reg.add_ok(&[&reg.krate(&CrateBuilder::new("later", v))]);
        assert!(!common::stderr(&out).contains("warning"), "said once");
    }
    assert!(!reg.root.join(".regtool/catalogue-pending.json").exists());
    reg.assert_verify_clean();
}

/// A catalogue file that cannot be written is a warning naming it: the add
/// exits 0 with the report of its index work, the crate is left pending,
/// `verify` says so, and the next change (of another crate) finishes it.
#[test]
fn a_catalogue_that_cannot_be_written_fails_no_change() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("first", "1.0.0"));
    // A folder where `blocked`'s page goes: no file can replace it.
    let page = reg.root.join("catalogue/crates/blocked.html");
    fs::create_dir_all(page.join("in-the-way")).unwrap();
    let k = reg.krate(&CrateBuilder::new("blocked", "1.0.0"));
    let out = reg.ok(&[&"--format", &"json", &"add", &k]);
    let said = common::stderr(&out);
    assert!(
        said.contains("warning: the catalogue was not brought up to date")
            && said.contains("blocked.html"),
        "{said}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["crates"][0]["status"], "added", "{report}");
    assert!(reg.index_text("blocked").contains("\"vers\":\"1.0.0\""));
    let pending = reg.root.join(".regtool/catalogue-pending.json");
    assert!(read(&pending).contains("blocked"));
    let verify = reg.run(&[&"verify"]);
    common::assert_exit_code(&verify, 1, "verify with pending work");
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("(the pages of blocked)"),
        "{}",
        common::describe_output(&verify)
    );

    fs::remove_dir_all(&page).unwrap();
    reg.publish(&CrateBuilder::new("next", "1.0.0"));
    assert!(page_of(&reg, "blocked").contains("<h1>blocked"));
    assert!(!pending.exists());
    reg.assert_verify_clean();
}

/// `reindex` of a registry whose catalogue state cannot be written: the
/// index work is done and reported, the whole catalogue is left pending.
#[test]
fn a_failed_rebuild_leaves_the_whole_catalogue_pending() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("one", "1.0.0"));
    fs::remove_file(reg.root.join("catalogue/crates/one.html")).unwrap();
    fs::create_dir_all(reg.root.join("catalogue/crates/one.html/x")).unwrap();
    let out = reg.ok(&[&"reindex"]);
    assert!(
        common::stderr(&out).contains("one.html"),
        "{}",
        common::stderr(&out)
    );
    assert!(read(&reg.root.join(".regtool/catalogue-pending.json")).contains("\"all\":true"));
    fs::remove_dir_all(reg.root.join("catalogue/crates/one.html")).unwrap();
    reg.ok(&[&"yank", &"one@1.0.0"]);
    assert!(page_of(&reg, "one").contains("class=\"yanked\""));
    reg.assert_verify_clean();
}

/// Issue 18: after `reindex --accept-changed` took other bytes under a
/// version, the page, the search data and the feed kept the README and the
/// description of the bytes replaced (a README that leaked a secret stayed
/// published). The stored metadata is keyed by the `.crate`'s `cksum`.
#[test]
fn pages_follow_bytes_replaced_under_a_version() {
    let reg = TestRegistry::new();
    let with = |description: &str, readme: &str| {
        CrateBuilder::new("leaky", "1.0.0")
            .manifest_extra("")
            .manifest(format!(
                "[package]\nname = \"leaky\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\
description = \"{description}\"\nreadme = \"README.md\"\n"
            ))
            .file("README.md", readme)
    };
    reg.publish(&with("first bytes", "token: hunter2-SECRET"));
    assert!(page_of(&reg, "leaky").contains("hunter2-SECRET"));
    let replaced = with("second bytes", "nothing to see").build();
    fs::write(reg.crate_file("leaky", "1.0.0"), &replaced).unwrap();
    reg.ok(&[&"reindex", &"--accept-changed"]);
    let page = page_of(&reg, "leaky");
    assert!(
        !page.contains("hunter2-SECRET") && page.contains("nothing to see"),
        "{page}"
    );
    assert!(page.contains("second bytes"), "{page}");
    let search = read(&reg.root.join("catalogue/search-index.js"));
    assert!(
        search.contains("second bytes") && !search.contains("first bytes"),
        "{search}"
    );
    let feed = read(&reg.root.join("feed.atom"));
    assert!(!feed.contains("first bytes"), "{feed}");
    reg.assert_verify_clean();
}

/// Issue 18: a README of nested blockquotes or `<div>`s took quadratic time
/// (64 KB: 5 s; 512 KiB: minutes, holding the registry's lock). Beyond the
/// nesting budget it is shown as escaped text; the speed is in
/// BENCHMARKS.md, not timed here.
#[test]
fn a_deeply_nested_readme_is_shown_as_text() {
    let reg = TestRegistry::new();
    let readme = format!(
        "# Deep\n\n<script>alert(1)</script> & \"more\"\n\n{} quoted\n\n{}",
        ">".repeat(60),
        "<div>".repeat(64 * 1024 / 5)
    );
    let k = CrateBuilder::new("deep", "1.0.0")
        .manifest(
            "[package]\nname = \"deep\"\nversion = \"1.0.0\"\nedition = \"2021\"\nreadme = \"README.md\"\n",
        )
        .file("README.md", &readme);
    reg.publish(&k);
    let page = page_of(&reg, "deep");
    assert_clean_page(&page);
    let start = page
        .find("<section class=\"readme\"")
        .expect("a README section");
    let end = start + page[start..].find("</section>").unwrap() + "</section>".len();
    let section = &page[start..end];
    // The snapshot keeps the head of it: the note and the text, escaped.
    let head: String = section.chars().take(400).collect();
    insta::assert_snapshot!("deep_readme_as_text", head);
    assert!(
        section.ends_with("&lt;div&gt;</pre>\n</section>"),
        "{}",
        &section[section.len() - 80..]
    );
}

/// Issue 18: a description holding U+FFFE or U+FFFF made `feed.atom` not
/// well-formed XML. Any Unicode from a crate (controls, noncharacters, raw
/// or as character references in the README) leaves every file valid for
/// its format: XML 1.0 for the feed (xmllint is the judge when installed,
/// and XML's `Char` production in any case), HTML without parse errors,
/// JSON for the search data.
#[test]
fn any_unicode_leaves_every_file_valid() {
    let reg = TestRegistry::new();
    let odd = "a\u{1}b\u{7}c\u{7f}d\u{85}e\u{9f}f\u{FDD0}g\u{FFFE}h\u{FFFF}i\u{1FFFE}j\u{c}k";
    let k = CrateBuilder::new("odd", "1.0.0")
        .manifest(format!(
            "[package]\nname = \"odd\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\
description = \"{}\"\nlicense = \"{}\"\nkeywords = [\"{}\"]\nreadme = \"README.md\"\n\
homepage = \"https://e.org/{}\"\n",
            toml_escape(odd),
            toml_escape(odd),
            toml_escape(odd),
            toml_escape(odd)
        ))
        .file(
            "README.md",
            format!(
                "# {odd}\n\n&#xFFFE; &#1; &#x85; &#0; &#xD800; &#x110000; <b title=\"{odd}\">{odd}</b>\n\n\
<a href=\"&#x6a;avascript:alert(1)\">x</a> <img src=x onerror=alert(1)>\n\n`{odd}`\n"
            ),
        );
    reg.publish(&k);
    let page = page_of(&reg, "odd");
    assert_clean_page(&page);
    assert!(
        page.contains("a\u{FFFD}b"),
        "the text stays, its bad characters replaced"
    );
    let feed_path = reg.root.join("feed.atom");
    let feed = read(&feed_path);
    assert_eq!(common::first_non_xml_char(&feed), None, "{feed:?}");
    if let Some(xmllint) = common::require_tool("xmllint", "xmllint judges the feed's XML") {
        let out = Command::new(xmllint)
            .arg("--noout")
            .arg(&feed_path)
            .output()
            .unwrap();
        common::assert_success(&out, "xmllint --noout feed.atom");
    }
    let search = read(&reg.root.join("catalogue/search-index.js"));
    let json = search
        .strip_prefix("window.REGTOOL_CATALOGUE = ")
        .and_then(|s| s.strip_suffix(";\n"))
        .expect("a script assigning JSON");
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    assert_eq!(v["crates"][0][0], "odd");
    assert_clean_page(&read(&reg.root.join("index.html")).replace(
        "<script src=\"catalogue/search-index.js\"></script>\n<script src=\"catalogue/search.js\"></script>",
        "",
    ));
}

/// `s` as the inside of a TOML basic string.
fn toml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c if c.is_control() => format!("\\u{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// `verify` reports a catalogue that does not describe the index (a page
/// missing, a page left over, an index file changed by hand), with
/// `regtool reindex` as the fix; `reindex` writes only what differs, and a
/// `reindex` that changes nothing rewrites no catalogue file.
#[test]
fn verify_reports_a_catalogue_that_differs_and_reindex_fixes_only_that() {
    let reg = TestRegistry::new();
    for n in ["alpha", "beta", "gamma"] {
        reg.publish(&CrateBuilder::new(n, "1.0.0"));
    }
    let pages = reg.root.join("catalogue/crates");
    fs::remove_file(pages.join("alpha.html")).unwrap();
    fs::write(pages.join("ghost.html"), "<p>left over</p>").unwrap();
    let index = reg.index_file("beta");
    fs::write(
        &index,
        read(&index).replace("\"yanked\":false", "\"yanked\":true"),
    )
    .unwrap();
    let out = reg.run(&[&"--format", &"json", &"verify"]);
    common::assert_exit_code(&out, 1, "verify of a catalogue that differs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "catalogue")
        .map(|p| {
            format!(
                "{} {}",
                p["path"].as_str().unwrap(),
                p["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    for want in ["alpha.html", "beta.html", "ghost.html"] {
        assert!(
            problems
                .iter()
                .any(|p| p.contains(want) && p.contains("regtool reindex")),
            "{want}: {problems:#?}"
        );
    }
    let gamma = fs::metadata(pages.join("gamma.html"))
        .unwrap()
        .modified()
        .unwrap();
    reg.ok(&[&"reindex"]);
    reg.assert_verify_clean();
    assert!(page_of(&reg, "beta").contains("class=\"yanked\""));
    assert!(!pages.join("ghost.html").exists());
    assert_eq!(
        fs::metadata(pages.join("gamma.html"))
            .unwrap()
            .modified()
            .unwrap(),
        gamma,
        "an up-to-date page is not written again"
    );
    // Nothing changed: no catalogue file is written (same inode and time).
    let stamp = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(p).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let files: Vec<PathBuf> = walk(&reg.root.join("catalogue"))
        .into_iter()
        .chain(
            [
                "index.html",
                "feed.atom",
                ".regtool/catalogue.json",
                ".regtool/catalogue-pages",
            ]
            .map(|f| reg.root.join(f)),
        )
        .collect();
    let before: Vec<_> = files.iter().map(|f| stamp(f)).collect();
    reg.ok(&[&"reindex"]);
    let after: Vec<_> = files.iter().map(|f| stamp(f)).collect();
    assert_eq!(before, after, "{files:#?}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The text of the page's `<pre class="{class}">`, as a browser shows it.
fn pre_text(page: &str, class: &str) -> String {
    let open = format!("<pre class=\"{class}\">");
    let at = page
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in {page}"))
        + open.len();
    let text = &page[at..at + page[at..].find("</pre>").unwrap()];
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Runs the page's `cargo add` line in `project`.
fn run_install_line(env: &common::CargoEnv, project: &Path, page: &str) -> String {
    let line = pre_text(page, "install");
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(args[0], "cargo", "{line}");
    env.cargo_ok(project, &args[1..]);
    line
}

/// Issue 19: every crate page showed `cargo add NAME@V --index sparse+URL/`,
/// which cargo refuses. The page's `.cargo/config.toml` lines and its
/// `cargo add` line, copied as they are into a fresh project, work with real
/// cargo against the registry served on 127.0.0.1: for a registry (by the
/// name in its settings) and for a mirror of crates.io.
#[test]
fn a_pages_install_commands_work_in_cargo() {
    for (init, want) in [
        (
            &["--name", "acme"][..],
            "cargo add shiny-lib@1.2.0 --registry acme",
        ),
        (&["--mirror"][..], "cargo add shiny-lib@1.2.0"),
    ] {
        let reg = common::ServedRegistry::new(init);
        reg.publish(
            &CrateBuilder::new("shiny-lib", "1.2.0")
                .file("src/lib.rs", "pub fn shine() -> u32 { 7 }\n"),
        );
        let page = read(&reg.root().join("catalogue/crates/shiny-lib.html"));
        let env = common::CargoEnv::new().with_config(&pre_text(&page, "config"));
        let project =
            env.project_with_main("", "fn main() { assert_eq!(shiny_lib::shine(), 7); }\n");
        assert_eq!(run_install_line(&env, &project, &page), want);
        let manifest = read(&project.join("Cargo.toml"));
        assert!(manifest.contains("shiny-lib"), "{manifest}");
        env.cargo_ok(&project, &["run", "--quiet"]);
        // The start page says the same.
        let index = read(&reg.root().join("index.html"));
        assert_eq!(pre_text(&index, "config"), pre_text(&page, "config"));
    }
}

/// For a registry that requires a token, the page adds what cargo needs to
/// send one (the credential provider, `cargo login --registry NAME`), and
/// with them a fresh project gets the crate from a real nginx that checks
/// the token: a registry, and a mirror of crates.io.
#[test]
fn a_private_pages_install_commands_work_in_cargo() {
    let Some(bin) = common::nginx() else { return };
    for (init, want) in [
        (
            &["--auth-required", "--name", "private-acme"][..],
            "cargo add secret-lib@0.4.0 --registry private-acme",
        ),
        (
            &["--auth-required", "--name", "private-acme", "--mirror"][..],
            "cargo add secret-lib@0.4.0",
        ),
    ] {
        let reg = common::NginxRegistry::start(&bin, init);
        reg.publish(
            &CrateBuilder::new("secret-lib", "0.4.0")
                .file("src/lib.rs", "pub fn hidden() -> u32 { 42 }\n"),
        );
        let page = read(&reg.root().join("catalogue/crates/secret-lib.html"));
        let config = pre_text(&page, "config");
        assert!(
            config.contains("global-credential-providers = [\"cargo:token\"]"),
            "{config}"
        );
        let login = pre_text(&page, "login");
        assert_eq!(login, "cargo login --registry private-acme");
        let env = common::CargoEnv::new().with_config(&config);
        let project =
            env.project_with_main("", "fn main() { assert_eq!(secret_lib::hidden(), 42); }\n");
        let mut cmd = env.command(&project);
        cmd.args(login.split_whitespace().skip(1))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("run cargo login");
        {
            use std::io::Write as _;
            writeln!(child.stdin.take().unwrap(), "{}", common::TOKEN).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        common::assert_success(&out, &login);
        assert_eq!(run_install_line(&env, &project, &page), want);
        env.cargo_ok(&project, &["run", "--quiet"]);
        reg.assert_logged("200 GET /crates/secret-lib/secret-lib-0.4.0.crate");
    }
}

/// Invariant 4 of issue 17 on a bucket: a run that died between the index
/// and the catalogue left its pending work in the bucket; `verify` reports
/// it, and the next change (of another crate) finishes it.
#[test]
#[cfg(feature = "s3")]
fn the_next_change_finishes_pending_work_on_a_bucket() {
    use object_store::{ObjectStoreExt, path::Path as P};
    let Some(moto) =
        common::MotoServer::shared("the registry lives in a bucket of moto's S3 server")
    else {
        return;
    };
    let bucket = moto.bucket();
    let reg = bucket.init("pend", &[]);
    let dir = common::tempdir();
    let foo = CrateBuilder::new("foo", "1.0.0").write_to(dir.path());
    common::assert_success(&bucket.add(&reg, &[foo]), "add foo");
    let page = bucket.get("pend/catalogue/crates/foo.html").body;
    // What a run killed after writing foo's index file leaves behind.
    let s3 = bucket.client();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(s3.delete(&P::from("pend/catalogue/crates/foo.html")))
        .unwrap();
    rt.block_on(s3.put(
        &P::from("pend/.regtool/catalogue-pending.json"),
        br#"{"crates":["foo"]}"#.to_vec().into(),
    ))
    .unwrap();
    let verify = bucket.run(&["verify", &reg]);
    common::assert_exit_code(&verify, 1, "verify with pending work");
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("(the pages of foo)"),
        "{}",
        common::describe_output(&verify)
    );
    let bar = CrateBuilder::new("bar", "1.0.0").write_to(dir.path());
    common::assert_success(&bucket.add(&reg, &[bar]), "add bar");
    assert_eq!(bucket.get("pend/catalogue/crates/foo.html").body, page);
    assert_eq!(
        bucket.get("pend/.regtool/catalogue-pending.json").status,
        404
    );
    bucket.ok(&["verify", &reg]);
}

/// READMEs whose HTML a browser's parser restructures (misnested, in the
/// wrong place, foreign content, broken references) still give crate pages
/// without a single HTML parse error, script, handler or `javascript:` URL.
#[test]
fn tricky_readmes_give_clean_pages() {
    let line =
        r#"{"name":"tricky","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;
    for readme in [
        "<p><div>block in p</div></p>",
        "<a href=\"https://e.org\">one <a href=\"https://f.org\">two</a></a>",
        "<table><tr><td>a</td></tr><p>stray</p></table>",
        "<table><b>bold</b><tr><td>x</td></tr></table>",
        "<b><i>misnested</b></i> and <p><b>unclosed",
        "<svg><p>breakout</p><style>x</style></svg><math><mi>x</mi></math>",
        "<select><option>a<option>b</select><form><form></form></form>",
        "<noscript><p>inside</p></noscript><template><td>x</td></template>",
        "&#0; &#x1; &#x80; &#xFFFE; &#xD800; &#x110000; &nosuch; &amp",
        "<img src=x onerror=alert(1)><a href=\" java\tscript:alert(1)\">x</a>",
        "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
        "<!-- unclosed comment",
        "<div title=\"unclosed",
        "[x](javascript:alert(1)) ![y](vbscript:z) <https://ok.example>",
        "<textarea><p>text</p></textarea><title>t</title><plaintext><b>rest",
        "<frameset><frame></frameset><body onload=alert(1)><html lang=x>",
        "<h1><h2>nested headings</h2></h1><li>stray item<dd>x<dt>y",
        "<pre>\n\nlead</pre><listing>l</listing><xmp><b></xmp>",
        "<ruby>a<rt>b<rp>c</ruby><object><param></object><applet></applet>",
        "text\r\nwith\u{c}form\u{b}feed\u{0}nul\u{85}nel",
        "<table><caption><table></table></caption><colgroup><col></colgroup></table>",
        "<details open><summary>s</summary><details><summary>t</summary></details></details>",
        "<a href='https://e.org/?a=1&b=2'>amp</a><image src=x>",
        "<button><button>b</button></button><nobr><nobr>n</nobr>",
    ] {
        let meta = serde_json::json!({ "readme": readme, "description": readme });
        let sample = regtool::catalogue::sample(
            format!("{line}\n").as_bytes(),
            &serde_json::to_vec(&meta).unwrap(),
            "https://crates.example.com",
        )
        .expect("a sample");
        let found = common::check_html(&sample.page);
        assert!(
            found.errors.is_empty()
                && found.scripts == 0
                && found.handlers.is_empty()
                && found.script_urls.is_empty(),
            "{readme:?}: {found:?}\n{}",
            &sample.page[sample.page.find("<section class=\"readme\"").unwrap_or(0)..]
        );
    }
}

/// The checks above can fail: the parser's errors, scripts, handlers and
/// `javascript:` URLs are found where they are.
#[test]
fn the_page_checks_find_what_they_look_for() {
    let doc = |body: &str| {
        format!("<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>")
    };
    assert!(common::check_html(&doc("<p>fine</p>")).errors.is_empty());
    for bad in [
        "<p>x</div>",
        "<table><p>x</p></table>",
        "a\u{1}b",
        "a\u{FFFE}b",
        "<a><a>x</a></a>",
    ] {
        assert!(!common::check_html(&doc(bad)).errors.is_empty(), "{bad:?}");
    }
    assert!(!common::check_html("<p>no doctype</p>").errors.is_empty());
    let found = common::check_html(&doc(
        "<script>x</script><img src=x onerror=y><a href=\" JavaScript:z\">a</a><a href=\"java&#x9;script:q\">b</a>",
    ));
    assert_eq!(found.scripts, 1);
    assert_eq!(found.handlers, ["img onerror"]);
    assert_eq!(found.script_urls.len(), 2, "{:?}", found.script_urls);
    assert_eq!(common::first_non_xml_char("ok\u{FFFD}\u{10000}"), None);
    assert_eq!(
        common::first_non_xml_char("a\u{FFFF}"),
        Some((1, '\u{FFFF}'))
    );
}

/// The feed, kept change by change, is what the index says: the newest
/// [50] versions, after adds that overflow it, yanks and removes that take
/// versions out of a full feed (`verify` compares it with the index).
#[test]
fn the_feed_follows_adds_yanks_and_removes() {
    let reg = TestRegistry::new();
    let dir = common::tempdir();
    let batch: Vec<PathBuf> = (0..30)
        .flat_map(|i| {
            let d = dir.path().to_path_buf();
            ["1.0.0", "1.1.0"]
                .map(move |v| CrateBuilder::new(&format!("feed-{i:02}"), v).write_to(&d))
        })
        .collect();
    let paths: Vec<&Path> = batch.iter().map(PathBuf::as_path).collect();
    reg.add_ok(&paths);
    reg.assert_verify_clean();
    reg.ok(&[&"yank", &"feed-29@1.1.0"]);
    reg.ok(&[&"remove", &"feed-00@1.0.0"]);
    reg.ok(&[&"remove", &"feed-01@1.0.0"]);
    reg.ok(&[&"remove", &"feed-01@1.1.0"]);
    reg.assert_verify_clean();
    let feed = read(&reg.root.join("feed.atom"));
    assert_eq!(feed.matches("<entry>").count(), 50, "{feed}");
    assert!(!feed.contains("feed-01"));
}

/// A catalogue file that cannot be read (a folder where the pending work or
/// the search data goes) is one `catalogue` problem naming it: `verify`
/// still checks the index and reports its problems (a missing `.crate`),
/// exit 1. It used to stop at the catalogue with an I/O error (exit 2),
/// hiding the index's problems.
#[test]
fn verify_reports_an_unreadable_catalogue_file_and_still_checks_the_index() {
    for blocked in [
        ".regtool/catalogue-pending.json",
        "catalogue/search-index.js",
    ] {
        let reg = TestRegistry::new();
        reg.publish(&CrateBuilder::new("alpha", "1.0.0"));
        reg.publish(&CrateBuilder::new("beta", "1.0.0"));
        fs::remove_file(reg.crate_file("beta", "1.0.0")).unwrap();
        let path = reg.root.join(blocked);
        let _ = fs::remove_file(&path);
        fs::create_dir_all(path.join("in-the-way")).unwrap();
        let out = reg.run(&[&"--format", &"json", &"verify"]);
        common::assert_exit_code(&out, 1, blocked);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let kinds: Vec<(String, String)> = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["kind"].as_str().unwrap().to_string(),
                    p["path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(
            kinds
                .iter()
                .any(|(k, p)| k == "missing-crate" && p.contains("beta")),
            "{blocked}: {kinds:?}"
        );
        let catalogue: Vec<&(String, String)> =
            kinds.iter().filter(|(k, _)| k == "catalogue").collect();
        assert_eq!(catalogue.len(), 1, "{blocked}: {kinds:?}");
        assert!(catalogue[0].1.ends_with(blocked), "{blocked}: {kinds:?}");
    }
}

/// A damaged feed (truncated, emptied) is found by `verify` and written
/// again by a `reindex` that changes nothing else: both used to look only at
/// whether `feed.atom` was there.
#[test]
fn a_damaged_feed_is_reported_and_reindex_writes_it_again() {
    let reg = TestRegistry::new();
    reg.publish(&CrateBuilder::new("alpha", "1.0.0"));
    reg.publish(&CrateBuilder::new("beta", "1.0.0"));
    let feed = reg.root.join("feed.atom");
    let whole = fs::read(&feed).unwrap();
    for damaged in [&whole[..whole.len() / 2], &b""[..]] {
        fs::write(&feed, damaged).unwrap();
        let out = reg.run(&[&"--format", &"json", &"verify"]);
        common::assert_exit_code(&out, 1, "verify of a damaged feed");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = report["problems"].as_array().unwrap();
        assert!(
            problems.len() == 1
                && problems[0]["kind"] == "catalogue"
                && problems[0]["path"].as_str().unwrap().ends_with("feed.atom"),
            "{problems:#?}"
        );
        reg.ok(&[&"reindex"]);
        assert_eq!(fs::read(&feed).unwrap(), whole, "the feed as it was");
        reg.assert_verify_clean();
    }
}

/// One file per crate: a page carries the metadata it shows and its README,
/// so that it is rendered again (here: an older version added) without
/// reading its `.crate`, which is gone here; whatever its README holds.
#[test]
fn a_page_is_rendered_again_from_its_own_record() {
    let reg = TestRegistry::new();
    let readme = "# Two\n\nText --> <!--regtool-record {\"cksum\":\"00\"}--> \
</section> <section class=\"readme\" id=\"readme\">\n";
    let rec = |v: &str, description: &str| {
        CrateBuilder::new("rec", v)
            .manifest(format!(
                "[package]\nname = \"rec\"\nversion = \"{v}\"\nedition = \"2021\"\n\
description = \"{description}\"\nreadme = \"README.md\"\n"
            ))
            .file("README.md", readme)
    };
    reg.publish(&rec("2.0.0", "Shown from the record"));
    let first = page_of(&reg, "rec");
    assert_clean_page(&first);
    let crate_file = reg.crate_file("rec", "2.0.0");
    let bytes = fs::read(&crate_file).unwrap();
    fs::remove_file(&crate_file).unwrap();
    let older = reg.krate(&rec("1.0.0", "not shown"));
    let out = reg.add_ok(&[&older]);
    assert!(
        !common::stderr(&out).contains("index line only"),
        "{}",
        common::stderr(&out)
    );
    let page = page_of(&reg, "rec");
    assert_ne!(page, first, "the page shows 1.0.0 too");
    assert!(page.contains("<tr id=\"v1.0.0\">"), "{page}");
    // Everything but the versions table is what it was.
    let head = |p: &str| p[..p.find("<h2 id=\"versions\">").unwrap()].to_string();
    assert_eq!(head(&page), head(&first));
    assert!(page.contains("Shown from the record") && !page.contains("not shown"));
    assert_clean_page(&page);
    fs::write(&crate_file, bytes).unwrap();
    reg.assert_verify_clean();
}

/// Pages an older regtool wrote, with their metadata under `.regtool/meta/`:
/// the first rebuild (their design is older) renders them from that
/// metadata (not from the `.crate`) and deletes it; a page whose record is
/// damaged, for another `.crate`, or not ours, is rendered from the `.crate`.
#[test]
fn pages_of_older_regtools_are_rendered_from_their_stored_metadata() {
    let reg = TestRegistry::new();
    let krate = |v: &str| {
        CrateBuilder::new("elder", v).manifest(format!(
            "[package]\nname = \"elder\"\nversion = \"{v}\"\nedition = \"2021\"\n\
description = \"From the crate\"\n"
        ))
    };
    reg.publish(&krate("1.0.0"));
    let root = &reg.root;
    let index: serde_json::Value =
        serde_json::from_str(read(&root.join("el/de/elder")).lines().next().unwrap()).unwrap();
    let cksum = index["cksum"].as_str().unwrap();
    // What regtool 2 (one metadata file per crate) left.
    let page_path = root.join("catalogue/crates/elder.html");
    let page = read(&page_path);
    let start = page.find("<!--regtool-record ").unwrap();
    let end = start + page[start..].find("-->\n").unwrap() + 4;
    fs::write(&page_path, format!("{}{}", &page[..start], &page[end..])).unwrap();
    fs::create_dir_all(root.join(".regtool/meta/gone")).unwrap();
    fs::write(
        root.join(".regtool/meta/elder.json"),
        format!(r#"{{"cksum":"{cksum}","renderer":2,"description":"From the stored metadata"}}"#),
    )
    .unwrap();
    fs::write(root.join(".regtool/meta/gone/1.0.0.json"), "{}").unwrap();
    let state_path = root.join(".regtool/catalogue.json");
    let mut state: serde_json::Value = serde_json::from_str(&read(&state_path)).unwrap();
    let site = state["site"].as_str().unwrap().to_string();
    assert!(site.starts_with("3\n"), "{site}");
    state["site"] = format!("2\n{}", &site[2..]).into();
    fs::write(&state_path, state.to_string()).unwrap();

    reg.ok(&[&"reindex"]);
    let page = page_of(&reg, "elder");
    assert!(page.contains("From the stored metadata"), "{page}");
    assert!(page.contains("<!--regtool-record "), "{page}");
    assert!(!root.join(".regtool/meta").exists());
    reg.assert_verify_clean();

    // Damaged records and foreign pages count as none: the `.crate` is read.
    let mut older = 10;
    for damage in [
        |p: &str| p.replace("{\"cksum\":\"", "{\"cksum\":\"x"),
        |p: &str| p.replace("\"renderer\":2", "\"renderer\":1"),
        |p: &str| p.replace("<!--regtool-record {", "<!--regtool-record ["),
        |_: &str| "<html>not ours</html>".to_string(),
    ] {
        fs::write(&page_path, damage(&page)).unwrap();
        older -= 1;
        reg.publish(&krate(&format!("0.{older}.0")));
        let again = page_of(&reg, "elder");
        assert!(again.contains("From the crate"), "{again}");
        assert!(!again.contains("From the stored metadata"), "{again}");
        reg.assert_verify_clean();
    }
    // Turning the catalogue off deletes what older regtools stored.
    fs::create_dir_all(root.join(".regtool/meta")).unwrap();
    fs::write(root.join(".regtool/meta/elder.json"), "{}").unwrap();
    reg.ok(&[&"settings", &"--html", &"false"]);
    assert!(!root.join(".regtool/meta").exists());
}

/// A page edited in place (the same length, so its record still parses and
/// its README section is where the record says) is not a source: the next
/// change that renders it again reads the `.crate`, because the page's
/// digest is no longer the one `.regtool/catalogue-pages` holds for it.
#[test]
fn a_page_edited_in_place_is_rendered_again_from_the_crate() {
    let reg = TestRegistry::new();
    let krate = |v: &str| {
        CrateBuilder::new("edited", v)
            .manifest(format!(
                "[package]\nname = \"edited\"\nversion = \"{v}\"\nedition = \"2021\"\n\
description = \"Plain\"\nreadme = \"README.md\"\n"
            ))
            .file("README.md", "# Edited\n\nversion text here\n")
    };
    reg.publish(&krate("1.0.0"));
    reg.publish(&krate("2.0.0"));
    let first = page_of(&reg, "edited");
    let path = reg.root.join("catalogue/crates/edited.html");
    for (from, to) in [
        ("<p>version text here</p>", "<script>1</script>xxxxxx"),
        ("\"description\":\"Plain\"", "\"description\":\"Plant\""),
    ] {
        assert_eq!(from.len(), to.len());
        let page = read(&path);
        assert!(page.contains(from), "{from} in {page}");
        fs::write(&path, page.replacen(from, to, 1)).unwrap();
        reg.ok(&[&"yank", &"edited@1.0.0"]);
        let page = page_of(&reg, "edited");
        assert!(!page.contains(to), "the edit {to} was kept: {page}");
        assert!(page.contains(from), "{page}");
        reg.ok(&[&"yank", &"--undo", &"edited@1.0.0"]);
        assert_eq!(page_of(&reg, "edited"), first);
    }
    reg.assert_verify_clean();
}

/// A change of the site (the URL) renders every page again, each from the
/// record it carries (the pages' digests hold whatever the site): the
/// `.crate` is not read, and is gone here.
#[test]
fn a_site_change_renders_pages_from_their_records() {
    let reg = TestRegistry::new();
    reg.publish(
        &CrateBuilder::new("sited", "1.0.0")
            .manifest(
                "[package]\nname = \"sited\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\
description = \"Kept across sites\"\nreadme = \"README.md\"\n",
            )
            .file("README.md", "# Sited\n\nThe README text.\n"),
    );
    fs::remove_file(reg.crate_file("sited", "1.0.0")).unwrap();
    let out = reg.ok(&[&"settings", &"--url", &"http://other.example/"]);
    assert!(
        !common::stderr(&out).contains("index line only"),
        "{}",
        common::stderr(&out)
    );
    let page = page_of(&reg, "sited");
    assert!(page.contains("other.example"), "{page}");
    assert!(
        page.contains("The README text.") && page.contains("Kept across sites"),
        "{page}"
    );
}
