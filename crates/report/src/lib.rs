//! Completion certificates: one request's evidence bundle, and the report
//! the offline verifier made of it, as an HTML document an auditor can read
//! and print (to paper or PDF, A4 or Letter).
//!
//! The certificate says, in plain words and tables: what the request was
//! and how it ended; what was approved (the access change, the approvers
//! and their order or quorum); which document versions, by SHA-256; every
//! accepted signature with its signer (and the principal under a
//! delegation), the signer's identity state, the credential and how much
//! assurance it earned, the authentication and the policy decision the log
//! recorded, any break-glass exception, and the signature's receipt (a
//! C2SP tlog-proof an auditor can check alone); refusals, re-routings and
//! closings; the signed log checkpoint; and every verification check with a
//! sentence saying what it means.
//!
//! Every fact about the request comes from the bundle's log entries (their
//! exact bytes, parsed as [`LogEntry`](countersign_proto::entry::LogEntry)),
//! never from the bundle's convenience `request` view, which is shown only
//! where it disagrees with the log. Whether any of it holds is the
//! [`Report`]'s business: the certificate shows the verdict first, and says
//! at the top when the log key was not pinned, so that the checks prove only
//! that the bundle agrees with itself.
//!
//! What this crate deliberately does not do:
//! - It verifies nothing itself: it renders a [`Report`] that
//!   [`countersign_verify::verify_bundle`] made ([`verify_and_render`] runs
//!   both, so the two cannot be about different bundles).
//! - No IO, no clock, no network: the caller writes the file or serves the
//!   page, and passes the time of verification if it should be shown. The
//!   page references no external resource (no fonts, images or scripts),
//!   and in [`Style::Linked`] form no inline style either, so it works under
//!   a strict Content-Security-Policy.
//! - It never panics on input: a bundle that does not parse still renders,
//!   as a page saying so with the failed checks.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod checks;
mod facts;
mod page;
mod words;

#[cfg(test)]
mod tests;

use askama::Template as _;
use countersign_verify::Report;
use time::OffsetDateTime;

/// The certificate's stylesheet (screen and print rules). [`Style::Inline`]
/// embeds it; with [`Style::Linked`] the caller serves it at the link's
/// address (as `text/css`).
pub const CERTIFICATE_CSS: &str = include_str!("../assets/certificate.css");

/// How the page gets its stylesheet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style<'a> {
    /// [`CERTIFICATE_CSS`] in a `<style>` element: a standalone file that
    /// needs nothing else (what `countersign evidence report` writes).
    #[default]
    Inline,
    /// `<link rel="stylesheet" href="...">` to this address, for a server
    /// whose Content-Security-Policy forbids inline styles.
    Linked(&'a str),
}

/// How to render a certificate.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions<'a> {
    pub style: Style<'a>,
    /// Whether the report was made with a pinned log key (the verifier's
    /// `Options::pinned_log_key`). The page calls the key pinned only when
    /// this is set *and* the report holds a passing `log_key.pinned` check;
    /// otherwise it warns, at the top, that the bundle vouched for its own key.
    pub log_key_pinned: bool,
    /// A line shown above the heading and used in the page title, such as
    /// the organisation's name.
    pub title: Option<&'a str>,
    /// When the report was made, to show as "verified at". The crate reads
    /// no clock: without it, no verification time is shown.
    pub verified_at: Option<OffsetDateTime>,
}

/// What can stop a certificate from rendering. A bad bundle is not one of
/// them: it renders as a page saying what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report is about another request than the bundle: a certificate
    /// would present one bundle's verdict as another's.
    #[error(
        "the verification report is about request {report:?}, but the bundle is about {bundle:?}"
    )]
    ReportMismatch {
        bundle: Option<String>,
        report: Option<String>,
    },
    /// The template engine failed (writing to a `String` does not, so this
    /// does not happen in practice).
    #[error("the certificate template failed to render: {0}")]
    Template(#[from] askama::Error),
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Render the completion certificate of the bundle `bundle_json` (its exact
/// bytes), given the `report` that `countersign_verify::verify_bundle` made
/// of those bytes. Answers a complete HTML document.
pub fn render(bundle_json: &[u8], report: &Report, options: &RenderOptions) -> Result<String> {
    let bundle = facts::Bundle::read(bundle_json);
    let bundle_request = bundle.as_ref().map(|b| b.request_id.clone());
    // The verifier names the request exactly when the bytes parse as a
    // bundle, so a report naming another request (or none, for a bundle
    // that parses) was made of other bytes. A report without any check
    // claims nothing, and renders as "not verified".
    if bundle_request != report.request && !report.checks.is_empty() {
        return Err(Error::ReportMismatch {
            bundle: bundle_request,
            report: report.request.clone(),
        });
    }
    let page = page::Certificate::build(bundle_json, bundle, report, options);
    Ok(page.render()?)
}

/// Verify `bundle_json` with `verify` and render its certificate; answers
/// the report and the page. Whether the key was pinned is taken from
/// `verify` (`options.log_key_pinned` is ignored).
pub fn verify_and_render(
    bundle_json: &[u8],
    verify: &countersign_verify::Options,
    options: &RenderOptions,
) -> Result<(Report, String)> {
    let report = countersign_verify::verify_bundle(bundle_json, verify);
    let options = RenderOptions {
        log_key_pinned: verify.pinned_log_key.is_some(),
        ..options.clone()
    };
    let html = render(bundle_json, &report, &options)?;
    Ok((report, html))
}
