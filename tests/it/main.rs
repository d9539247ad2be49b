//! regtool's integration tests, one binary (one link) with a module per area:
//! each runs the real `regtool` binary on registries it builds, and the
//! end-to-end modules let real `cargo` (and nginx) judge the result.

// Tests look at the registry's files directly, as cargo and nginx do.
#![allow(clippy::disallowed_methods)]

mod common;

mod add;
// The catalogue needs regtool's `html` feature.
#[cfg(feature = "html")]
mod catalogue;
mod ci_recipe;
mod doctor;
mod e2e_cargo;
// Builds without an optional part (`--no-default-features`).
#[cfg(any(not(feature = "s3"), not(feature = "html")))]
mod features;
mod first_hour;
mod hostile;
mod integrity;
// Issue 17's interleavings race jobs on a bucket (their folder companions
// run beside them): regtool's `s3` feature.
#[cfg(feature = "s3")]
mod interleavings;
// The writers' lease of a bucket needs regtool's `s3` feature.
#[cfg(all(unix, feature = "s3"))]
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
// Registries in a bucket need regtool's `s3` feature (integration tests see
// the package's features).
#[cfg(feature = "s3")]
mod s3;
// Both backends at once, in the build with the bucket (`s3`) only: the
// build without the optional parts runs no second bounded stress run.
#[cfg(all(unix, feature = "s3"))]
mod stress;
#[cfg(unix)]
mod tokens;
