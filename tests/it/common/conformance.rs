//! Conformance with crates.io's own index lines (no network).

use super::*;

/// `fixtures/crates-io/`: real `.crate` files and crates.io's index lines for
/// them (`expected.jsonl`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crates-io")
}

/// The `.crate` files of [`fixtures`], sorted by path.
pub fn fixture_crates() -> Vec<PathBuf> {
    let mut crates: Vec<PathBuf> = fs::read_dir(fixtures())
        .expect("read fixtures/crates-io")
        .map(|e| e.expect("list fixtures/crates-io").path())
        .filter(|p| p.extension().is_some_and(|x| x == "crate"))
        .collect();
    crates.sort();
    crates
}

/// The lines of `expected.jsonl`.
pub fn expected_lines() -> Vec<Value> {
    let text = fs::read_to_string(fixtures().join("expected.jsonl")).expect("expected.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("expected line is JSON"))
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_pubtime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Checks every line of `expected.jsonl` against the registry at `root`.
pub fn check_conformance(root: &Path, mirror: bool) {
    let expected = expected_lines();
    assert_eq!(expected.len(), 21);
    let mut failures = Vec::new();
    let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
    for exp in &expected {
        let name = exp["name"].as_str().unwrap();
        let vers = exp["vers"].as_str().unwrap();
        *per_name.entry(name.to_owned()).or_default() += 1;
        let id = format!("{name}@{vers}");
        let ours = read_index_lines(root, name);
        let Some(line) = ours.iter().find(|l| l["vers"] == vers) else {
            failures.push(format!("{id}: no line"));
            continue;
        };
        for key in [
            "name",
            "vers",
            "cksum",
            "links",
            "rust_version",
            "features",
            "features2",
            "v",
        ] {
            if line.get(key) != exp.get(key) {
                failures.push(format!(
                    "{id}: {key}: ours {:?}, crates.io {:?}",
                    line.get(key),
                    exp.get(key)
                ));
            }
        }
        if line["yanked"] != Value::Bool(false) {
            failures.push(format!("{id}: yanked is {}", line["yanked"]));
        }
        match line["pubtime"].as_str() {
            Some(t) if is_pubtime(t) => {}
            other => failures.push(format!("{id}: pubtime {other:?}")),
        }
        let file = fixtures().join(format!("{name}-{vers}.crate"));
        if line["cksum"] != sha256_hex(&fs::read(&file).unwrap()).as_str() {
            failures.push(format!("{id}: cksum is not the file's SHA-256"));
        }
        let mut deps = Vec::new();
        for d in line["deps"].as_array().unwrap() {
            let mut d = d.as_object().unwrap().clone();
            let reg = d.remove("registry");
            match (mirror, reg) {
                (false, Some(Value::String(r))) if r == CRATES_IO_INDEX => {}
                (true, None) => {}
                (_, r) => failures.push(format!(
                    "{id}: dep {} has registry {r:?} (mirror: {mirror})",
                    d["name"]
                )),
            }
            deps.push(Value::Object(d));
        }
        if Value::Array(deps.clone()) != exp["deps"] {
            failures.push(format!(
                "{id}: deps differ\n  ours:      {}\n  crates.io: {}",
                Value::Array(deps),
                exp["deps"]
            ));
        }
    }
    for (name, n) in &per_name {
        let ours = read_index_lines(root, name).len();
        if ours != *n {
            failures.push(format!("{name}: {ours} lines, expected {n}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches with crates.io:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs the conformance kit's `compare.py` on the registry at `root` (see
/// [`require_conformance_kit`] for when the kit is not there).
pub fn run_compare_py(root: &Path, mirror: bool) {
    let Some(script) =
        require_conformance_kit("its compare.py checks the fixtures' index lines too")
    else {
        return;
    };
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(fixtures().join("expected.jsonl"))
        .arg(root);
    if mirror {
        cmd.arg("--mirror");
    }
    let out = run_with_timeout(cmd, REGTOOL_TIMEOUT);
    assert!(
        out.status.success() && stdout(&out).contains(", 0 failed"),
        "compare.py reports failures\n{}",
        describe_output(&out)
    );
}
