//! The start page.

use axum::response::Response;

use super::see_other;
use super::session::MaybeViewer;

/// `/`: the inbox for a signed-in person, otherwise the sign-in page.
pub async fn home(MaybeViewer(viewer): MaybeViewer) -> Response {
    if viewer.is_some() {
        see_other("/inbox")
    } else {
        see_other("/sign-in")
    }
}
