//! Errors in cargo's shape: `{"errors": [{"detail": "..."}]}` with a status
//! code (<https://doc.rust-lang.org/cargo/reference/registry-web-api.html>),
//! which cargo prints as "the remote server responded with an error (status
//! ...): DETAIL". Part of [`super`] (floor 5).

use super::publish::BadPublish;
use crate::error::Error;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long a client is asked to wait before trying again after a 503
/// (seconds).
pub(crate) const RETRY_AFTER: u64 = 5;

/// A failed request: its status and one detail per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The status code.
    pub(crate) status: StatusCode,
    /// One message per problem (at least one).
    pub(crate) details: Vec<String>,
}

impl ApiError {
    /// One problem.
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            details: vec![detail.into()],
        }
    }

    /// A library error as an answer: its status (see docs/serve.md's table)
    /// and its text (for a 500 or a 503, a short sentence, the text going to
    /// the log); an error about the staging file of a publish names the
    /// crate as `what` (`name@version`) instead of that file, which the
    /// client never chose.
    pub(crate) fn from_error(e: &Error, what: &str) -> ApiError {
        let detail = |e: &Error| match e {
            Error::Crate { problem, .. } => format!("{what}: {problem}"),
            e => crate::error::Report(e).to_string(),
        };
        let status = match e {
            Error::Crate { .. } | Error::Rejected { .. } | Error::Usage(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Lock { .. } | Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // What only the operator needs (the holder's host and pid, the
        // storage's endpoint and paths, the cause chain) goes to the log.
        let details = match e {
            Error::Rejected { problems } => problems.iter().map(detail).collect(),
            Error::Lock { .. } => {
                crate::output::warn(format!("a change waited in vain: {}", detail(e)));
                vec![
                    "the registry is busy (another regtool is changing it); try again in a moment"
                        .to_owned(),
                ]
            }
            Error::Unavailable { .. } => {
                crate::output::warn(format!("a request failed: {}", detail(e)));
                vec!["the registry's storage is unavailable for now; try again later".to_owned()]
            }
            e if status == StatusCode::INTERNAL_SERVER_ERROR => {
                crate::output::warn(format!("a request failed: {}", detail(e)));
                vec![
                    "the registry's storage could not be read or written; the server's log says why"
                        .to_owned(),
                ]
            }
            e => vec![detail(e)],
        };
        ApiError { status, details }
    }
}

impl From<BadPublish> for ApiError {
    fn from(e: BadPublish) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let errors: Vec<serde_json::Value> = self
            .details
            .iter()
            .map(|d| serde_json::json!({ "detail": d }))
            .collect();
        let body = axum::Json(serde_json::json!({ "errors": errors }));
        if self.status == StatusCode::UNAUTHORIZED {
            // The `auth-required` handshake: cargo then sends its token, or
            // tells its user to log in.
            (
                self.status,
                [(header::WWW_AUTHENTICATE, "Cargo".to_owned())],
                body,
            )
                .into_response()
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            (
                self.status,
                [(header::RETRY_AFTER, RETRY_AFTER.to_string())],
                body,
            )
                .into_response()
        } else {
            (self.status, body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CrateProblem;

    #[test]
    fn library_errors_get_their_status_and_name_the_crate_not_the_staging_file() {
        let staging = std::path::Path::new("/srv/reg/.regtool/tmp/.tmpXYZ");
        let e = Error::krate(staging, CrateProblem::NotGzip);
        let a = ApiError::from_error(&e, "foo@1.0.0");
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.details.len(), 1);
        assert!(
            a.details[0].starts_with("foo@1.0.0: not a gzip file"),
            "{a:?}"
        );
        assert!(!a.details[0].contains(".tmpXYZ"), "{a:?}");
        let lock = Error::Lock {
            path: "/srv/reg/.regtool/lock".into(),
            message: "timed out".into(),
        };
        let a = ApiError::from_error(&lock, "foo@1.0.0");
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(a.details[0].contains("busy"), "{a:?}");
        let nf = Error::NotFound {
            message: "no crate `x`".into(),
        };
        assert_eq!(ApiError::from_error(&nf, "").status, StatusCode::NOT_FOUND);
        let rejected = Error::Rejected {
            problems: vec![e, Error::krate(staging, CrateProblem::NotGzip)],
        };
        assert_eq!(
            ApiError::from_error(&rejected, "foo@1.0.0").details.len(),
            2
        );
    }
}
