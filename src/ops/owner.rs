//! `regtool owner`: who may change a crate through cargo's Web API
//! (`regtool serve`, docs/serve.md). Floor 5 (`commands`).
//!
//! A crate's owners are token names (a token's name is the user cargo's
//! `owner` commands show), kept in `.regtool/owners/{canonical}.json`
//! ([`crate::layout::owners_key`]) as `{"owners": ["alice", "bob"]}`: never
//! served, written only through the [`crate::registry::Writer`], replaced
//! only if unchanged since it was read. The first publisher of a crate
//! through `serve` becomes its owner ([`claim`]). A crate without the
//! file (added with `regtool add` or `mirror`) has no owner: only a token
//! with the `admin` scope may change it through the API until `regtool
//! owner NAME --add USER` gives it one. Source of the model:
//! <https://doc.rust-lang.org/cargo/reference/registry-web-api.html#owners>.

use super::find::not_found;
use crate::error::{Error, Result};
use crate::layout;
use crate::name::CrateName;
use crate::output::Shell;
use crate::registry::{Registry, Writer};
use crate::storage::Revision;
use serde::{Deserialize, Serialize};

/// The owners file of one crate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct OwnersFile {
    /// Token names, in the order they were added.
    owners: Vec<String>,
}

/// The owners of `name` (any spelling), with the file's revision: `None`
/// when the crate has no owners file (no owner).
///
/// # Errors
/// [`Error::Config`] naming the file when it is not JSON of this shape;
/// [`Error::Io`].
pub(crate) fn owners(
    reg: &Registry,
    name: &CrateName,
) -> Result<(Option<Vec<String>>, Option<Revision>)> {
    let key = layout::owners_key(name);
    match reg.read_state(&key)? {
        None => Ok((None, None)),
        Some((bytes, rev)) => {
            let file: OwnersFile = serde_json::from_slice(&bytes).map_err(|e| Error::Config {
                path: reg.locate(&key),
                message: format!("not a valid owners file: {e}"),
            })?;
            Ok((Some(file.owners), Some(rev)))
        }
    }
}

fn file_bytes(owners: &[String]) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(&OwnersFile {
        owners: owners.to_vec(),
    })
    .expect("owners serialize");
    v.push(b'\n');
    v
}

/// What `owner` is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct OwnerOptions {
    /// The crate (any spelling).
    pub(crate) name: CrateName,
    /// Users (token names) to add.
    pub(crate) add: Vec<String>,
    /// Users to remove.
    pub(crate) remove: Vec<String>,
}

/// The report of `owner` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OwnerReport {
    /// The crate, as published.
    pub(crate) name: String,
    /// Its owners after the change (empty: none; only an `admin` token may
    /// change it through the API).
    pub(crate) owners: Vec<String>,
    /// Whether this run changed the owners.
    pub(crate) changed: bool,
}

/// Lists, adds and removes the owners of `opts.name`; adding one already
/// there and removing one not there change nothing.
///
/// # Errors
/// [`Error::Usage`] for a user that is not a token name, or a change that
/// would leave a crate that had owners with none; [`Error::NotFound`] for
/// an unknown crate; [`Error::Config`]/[`Error::Io`]/[`Error::Conflict`]
/// naming the owners file; [`Error::Lock`] when the writer is not had in
/// time.
pub(crate) fn owner(reg: &Registry, opts: &OwnerOptions, shell: &Shell) -> Result<OwnerReport> {
    let name = &opts.name;
    if opts.add.is_empty() && opts.remove.is_empty() {
        let stored = reg
            .find_crate(name)?
            .ok_or_else(|| not_found(reg, name.as_str()))?;
        let (owners, _) = owners(reg, name)?;
        return Ok(OwnerReport {
            name: stored.name.to_string(),
            owners: owners.unwrap_or_default(),
            changed: false,
        });
    }
    change_with(&reg.writer(shell)?, opts, shell)
}

/// The change of [`owner`] with the registry's writer already taken
/// (`regtool serve` checks who may change the owners under the same writer).
///
/// # Errors
/// As [`owner`].
pub(crate) fn change_with(
    writer: &Writer,
    opts: &OwnerOptions,
    shell: &Shell,
) -> Result<OwnerReport> {
    for user in opts.add.iter().chain(&opts.remove) {
        super::token::check_name(user).map_err(|_| {
            Error::Usage(format!(
                "`{user}` is not a user: users are token names (letters, digits, `-`, `_`)"
            ))
        })?;
    }
    // An owner is a user who can act: one with a token now (else a crate
    // could be handed to a name whoever later gets it inherits).
    let tokens = if opts.add.is_empty() && opts.remove.is_empty() {
        Vec::new()
    } else {
        super::token::list(writer)?.tokens
    };
    let has_token = |u: &String| tokens.iter().any(|t| &t.name == u);
    if let Some(user) = opts.add.iter().find(|u| !has_token(u)) {
        return Err(Error::Usage(format!(
            "`{user}` has no token in this registry: owners are users with a token (`regtool token add {user}` makes one)"
        )));
    }
    let name = &opts.name;
    let stored = writer
        .find_crate(name)?
        .ok_or_else(|| not_found(writer, name.as_str()))?;
    let (before, rev) = owners(writer, name)?;
    let mut after = before.clone().unwrap_or_default();
    for user in &opts.add {
        if !after.contains(user) {
            after.push(user.clone());
        }
    }
    after.retain(|u| !opts.remove.contains(u));
    // Owners whose token was revoked do not count: a removal must leave
    // one owner who can act.
    if !opts.remove.is_empty()
        && before.as_ref().is_some_and(|b| !b.is_empty())
        && !after.iter().any(has_token)
    {
        let revoked: Vec<&str> = after
            .iter()
            .filter(|u| !has_token(u))
            .map(String::as_str)
            .collect();
        let also = if revoked.is_empty() {
            String::new()
        } else {
            format!(
                " (`{}` has no token any more, so does not count)",
                revoked.join("`, `")
            )
        };
        return Err(Error::Usage(format!(
            "`{}` would be left without an owner{also}; add another owner first",
            stored.name
        )));
    }
    let changed = before.as_deref().unwrap_or_default() != after.as_slice();
    if changed {
        writer.put_secret(&layout::owners_key(name), &file_bytes(&after), rev)?;
        shell.status(
            "Owners",
            format!("of `{}`: {}", stored.name, after.join(", ")),
        );
    }
    Ok(OwnerReport {
        name: stored.name.to_string(),
        owners: after,
        changed,
    })
}

/// Makes `user` the one owner of `name` (any spelling), which has no
/// owners file: under `writer`, so that of two first publishes of one crate
/// the second finds the first one's claim. The file then stands for the
/// name even if the publish that follows fails (a reservation, as on
/// crates.io a name stays with its owner).
///
/// # Errors
/// [`Error::Conflict`] if an owners file appeared meanwhile (a writer that
/// lost its lease); [`Error::Io`] naming the file.
#[cfg_attr(not(feature = "serve"), allow(dead_code))]
pub(crate) fn claim(writer: &Writer, name: &CrateName, user: &str) -> Result<()> {
    writer.put_secret(
        &layout::owners_key(name),
        &file_bytes(&[user.to_owned()]),
        None,
    )
}
