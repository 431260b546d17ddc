//! The TOML configuration (`countersign.toml`).
//!
//! `FileConfig` lives in the `countersign` binary crate (crates/cli/src/
//! config.rs), whose methods build server, store and mail settings, so it
//! cannot be linked here without the whole server. What is fuzzed instead is
//! everything in it that parses: the `toml` parser itself, and the
//! library-visible section types the binary deserialises, `[[oidc.issuers]]`
//! (`countersign_oidc::IssuerConfig`, then `validate`) and `[smtp]`
//! (`countersign_mail::SmtpConfig`, then `validate`), read exactly as
//! `FileConfig` reads them.
//!
//! Invariants: a document that parses re-serialises to TOML that parses
//! back to the same document (compared as rendered text, so NaN compares
//! equal); an `IssuerConfig` that deserialises serialises back to TOML that
//! deserialises equal.
#![no_main]

use countersign_mail::SmtpConfig;
use countersign_oidc::IssuerConfig;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize)]
struct Oidc {
    #[serde(default)]
    issuers: Vec<IssuerConfig>,
}

/// The sections of `FileConfig` whose types are in library crates; the rest
/// of the file is ignored here.
#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    oidc: Option<Oidc>,
    #[serde(default)]
    smtp: Option<SmtpConfig>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return;
    };
    if let Ok(rendered) = toml::to_string(&table) {
        let again: toml::Table = toml::from_str(&rendered)
            .unwrap_or_else(|e| panic!("{rendered:?} does not parse back: {e}"));
        assert_eq!(toml::to_string(&again).unwrap(), rendered);
    }
    let Ok(sections) = toml::from_str::<Sections>(text) else {
        return;
    };
    for issuer in sections.oidc.map(|o| o.issuers).unwrap_or_default() {
        let _ = issuer.validate();
        let _ = issuer.sign_in_display_name();
        if let Ok(rendered) = toml::to_string(&issuer) {
            let back: IssuerConfig = toml::from_str(&rendered)
                .unwrap_or_else(|e| panic!("{rendered:?} does not parse back: {e}"));
            assert_eq!(back, issuer);
        }
    }
    if let Some(smtp) = sections.smtp {
        let _ = smtp.validate();
        let _ = smtp.effective_port();
    }
});
