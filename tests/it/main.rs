//! regtool's integration tests, one binary (one link) with a module per area:
//! each runs the real `regtool` binary on registries it builds, and the
//! end-to-end modules let real `cargo` (and nginx) judge the result.

// Tests look at the registry's files directly, as cargo and nginx do.
#![allow(clippy::disallowed_methods)]

mod common;

mod add;
mod catalogue;
mod ci_recipe;
mod doctor;
mod e2e_cargo;
mod first_hour;
mod hostile;
mod integrity;
mod interleavings;
#[cfg(unix)]
mod lease;
mod maintenance;
mod man;
mod mirror;
#[cfg(unix)]
mod model;
mod nginx;
mod old_manifests;
#[cfg(unix)]
mod readme_first_hour;
mod reliability;
mod s3;
#[cfg(unix)]
mod stress;
#[cfg(unix)]
mod tokens;
