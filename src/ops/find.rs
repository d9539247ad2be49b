//! Looking up a crate or version the user named, with helpful errors.
//! Floor 5 (`commands`).

use crate::error::{Error, Result};
use crate::index::{IndexFile, version_key};
use crate::name::CrateName;
use crate::registry::{Registry, StoredCrate};

/// Parses a crate name the user typed; a name that breaks the naming rules is
/// simply not in the registry.
///
/// # Errors
/// [`Error::NotFound`] naming the rule.
pub(crate) fn parse_name(name: &str) -> Result<CrateName> {
    CrateName::new(name).map_err(|reason| Error::NotFound {
        message: format!(
            "crate `{name}` is not in the registry (not a valid crate name: {reason})"
        ),
    })
}

/// Finds the crate `name` (any spelling: `foo_bar` finds `Foo-Bar`, the same
/// crate for cargo and crates.io); an unknown crate is an error naming the
/// nearest existing names.
///
/// # Errors
/// [`Error::NotFound`] for an unknown crate; [`Error::Io`], [`Error::IndexFile`].
pub(crate) fn load_existing(reg: &Registry, name: &CrateName) -> Result<StoredCrate> {
    reg.find_crate(name)?
        .ok_or_else(|| not_found(reg, name.as_str()))
}

/// The error for an unknown crate `name`, with the nearest existing names.
pub(crate) fn not_found(reg: &Registry, name: &str) -> Error {
    Error::NotFound {
        message: unknown_crate(reg, name),
    }
}

fn unknown_crate(reg: &Registry, name: &str) -> String {
    let mut msg = format!(
        "crate `{name}` is not in the registry at `{}`",
        reg.location().display()
    );
    let names: Vec<String> = super::list::list(reg)
        .map(|l| l.0)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .map(|n| {
            (
                strsim::jaro_winkler(&crate::name::canonical(n), &crate::name::canonical(name)),
                n,
            )
        })
        .filter(|(s, _)| *s > 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    if !scored.is_empty() {
        let list: Vec<String> = scored
            .iter()
            .take(3)
            .map(|(_, n)| format!("`{n}`"))
            .collect();
        msg.push_str(&format!("; did you mean {}?", list.join(", ")));
    } else if names.is_empty() {
        msg.push_str(", which holds no crate yet");
    } else {
        msg.push_str(&format!(
            " ({}; `regtool list` lists them)",
            crate::output::count(names.len(), "crate")
        ));
    }
    msg
}

/// Finds the line of `version`: the same version (build metadata included), or
/// else the one version equal but for build metadata.
///
/// # Errors
/// [`Error::NotFound`] listing the versions there are.
pub(crate) fn find_version(
    index: &IndexFile,
    name: &CrateName,
    version: &semver::Version,
) -> Result<usize> {
    let parsed: Vec<Option<semver::Version>> = index
        .lines
        .iter()
        .map(|l| l.package.version().ok())
        .collect();
    if let Some(i) = parsed.iter().position(|v| v.as_ref() == Some(version)) {
        return Ok(i);
    }
    let hits: Vec<usize> = parsed
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            v.as_ref()
                .is_some_and(|v| version_key(v) == version_key(version))
        })
        .map(|(i, _)| i)
        .collect();
    if let [one] = hits[..] {
        return Ok(one);
    }
    let there: Vec<&str> = index
        .lines
        .iter()
        .map(|l| l.package.vers.as_str())
        .collect();
    Err(Error::NotFound {
        message: format!(
            "crate `{name}` has no version `{version}`; versions in the registry: {}",
            there.join(", ")
        ),
    })
}

/// Parses a version the user typed (`1.2.3`, also `v1.2.3` and `=1.2.3`).
///
/// # Errors
/// [`Error::Usage`] naming the semver rule it breaks.
pub(crate) fn parse_version(version: &str) -> Result<semver::Version> {
    let v = version
        .trim()
        .trim_start_matches('v')
        .trim_start_matches('=');
    semver::Version::parse(v).map_err(|e| {
        Error::Usage(format!(
            "`{version}` is not a version (semver such as `1.2.3`): {e}"
        ))
    })
}

/// Parses `NAME@VERSION` / `NAME VERSION` as cargo does, into a crate name and
/// a version (both checked once, here at the edge).
///
/// # Errors
/// [`Error::Usage`] when no version is given, it is given twice, or it is not a
/// version; [`Error::NotFound`] for a name that breaks the naming rules.
pub(crate) fn parse_spec(
    spec: &str,
    version: Option<&str>,
) -> Result<(CrateName, semver::Version)> {
    let (name, version) = match (spec.split_once('@'), version) {
        (Some((n, v)), None) => (n, v),
        (None, Some(v)) => (spec, v),
        (Some(_), Some(_)) => {
            return Err(Error::Usage(format!(
                "the version is given twice: `{spec}` and `{}`",
                version.unwrap_or("")
            )));
        }
        (None, None) => {
            return Err(Error::Usage(format!(
                "no version given: use `{spec}@VERSION` or `{spec} VERSION`"
            )));
        }
    };
    let name = parse_name(name)?;
    Ok((name, parse_version(version)?))
}
