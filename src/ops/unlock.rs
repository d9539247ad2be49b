//! `regtool unlock`: free the writers' lease of a registry in a bucket after
//! its holder died. Floor 5 (`commands`).
//!
//! A writer killed while it held the lease leaves it held; the next writer
//! takes it over once it has stayed unchanged for the lease and a quarter
//! (see `storage::lease`), printing that it waits. `unlock` is for
//! not waiting in every job: it watches the lease the same way and frees it
//! once stale, or refuses when its holder renews it (alive) or when
//! `--lock-timeout` runs out first (saying how long it would take).
//! `--force` frees it at once: if the holder is alive after all, it keeps
//! writing beside the next writer until its next renewal fails (up to half
//! the lease), which is what the lease exists to prevent. A folder's lock
//! goes with its process: nothing to unlock there.

use crate::error::Result;
use crate::output::Shell;
use crate::registry::Registry;
use crate::storage::Unlocked;
use serde::Serialize;
use std::path::PathBuf;

/// The report of `unlock` (its `--format json` schema).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UnlockReport {
    /// The registry.
    pub(crate) registry: PathBuf,
    /// `freed` (it was held), `free` (nothing to do), or `no-lease` (a
    /// folder registry).
    pub(crate) outcome: &'static str,
    /// Who held the freed lease: `HOST (pid N, since T)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) holder: Option<String>,
}

/// Frees the lease of `reg` (see the module docs); `force` frees a lease
/// that is not stale too.
///
/// # Errors
/// [`crate::Error::Lock`] when the holder renews the lease while it is
/// watched, or the lease is still fresh when `--lock-timeout` runs out;
/// [`crate::Error::Io`].
pub(crate) fn unlock(reg: &Registry, force: bool, shell: &Shell) -> Result<UnlockReport> {
    let (outcome, holder) = match reg.unlock(force, shell)? {
        Unlocked::NoLease => {
            shell.status(
                "Nothing",
                "to unlock: a folder registry's lock is an OS lock, released when its process ends",
            );
            ("no-lease", None)
        }
        Unlocked::WasFree => {
            shell.status("Nothing", "to unlock: the registry lease is free");
            ("free", None)
        }
        Unlocked::Freed { holder } => {
            shell.status("Unlocked", format!("the registry lease held by {holder}"));
            ("freed", Some(holder))
        }
    };
    Ok(UnlockReport {
        registry: reg.location(),
        outcome,
        holder,
    })
}
