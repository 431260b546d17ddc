//! `countersign-policy`: Countersign's policy engine, on Cedar.
//!
//! What it does:
//!
//! * loads a policy set — a Cedar schema ([`SCHEMA_FILE`]) and policy files
//!   (`*.cedar`) — and validates every policy against the schema in strict
//!   mode, refusing the whole set with every problem listed when anything is
//!   wrong ([`PolicySet::from_sources`], [`PolicySet::load_dir`]);
//! * names each policy by its `@id` annotation and explains decisions with
//!   each policy's `@reason`;
//! * fingerprints the set ([`PolicySet::digest`]) so every recorded decision
//!   names the exact policy text that made it;
//! * answers [`countersign_domain::policy::PolicyQuery`]s by turning the
//!   identities, request, exception and credential into Cedar entities and
//!   the circumstances into a Cedar context (the mapping is described in
//!   [`DEFAULT_SCHEMA`]), then asking Cedar's authorizer;
//! * ships a default policy set and its test cases ([`PolicySet::defaults`],
//!   [`PolicySet::write_defaults`]) and runs operators' test case files
//!   ([`cases::run`]).
//!
//! What it deliberately does not do: read the clock (the time is in the
//! query), load facts (the caller puts every identity the question refers to
//! in the query), watch or reload policy files, support policy templates, or
//! decide anything outside Cedar. Deciding never fails and never panics: a
//! question that cannot be put to Cedar — an identity missing from the query,
//! a `sign` without a credential, entities the schema refuses — is denied,
//! with the reason in the decision's `errors`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod engine;
mod error;
mod set;

pub mod cases;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};
pub use set::{PolicyInfo, PolicySet};

/// The schema's file name in a policy directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";
/// The default policies' file name in a policy directory.
pub const DEFAULT_POLICY_FILE: &str = "default.cedar";
/// The test cases' file name in a policy directory.
pub const TESTS_FILE: &str = "tests.toml";

/// The shipped schema: the entities, attributes, actions and context the
/// engine gives Cedar.
pub const DEFAULT_SCHEMA: &str = include_str!("../defaults/schema.cedarschema");
/// The shipped policies.
pub const DEFAULT_POLICIES: &str = include_str!("../defaults/default.cedar");
/// Test cases for the shipped policies, one allowed and one refused case
/// (at least) per policy; also an example for operators.
pub const DEFAULT_TESTS: &str = include_str!("../defaults/tests.toml");

// The Cedar names of everything the engine provides (namespace `Countersign`).
pub(crate) const ACTION_TYPE: &str = "Countersign::Action";
pub(crate) const IDENTITY_TYPE: &str = "Countersign::Identity";
pub(crate) const GROUP_TYPE: &str = "Countersign::Group";
pub(crate) const REQUEST_TYPE: &str = "Countersign::Request";
pub(crate) const CREDENTIAL_TYPE: &str = "Countersign::Credential";
pub(crate) const EXCEPTION_TYPE: &str = "Countersign::Exception";
pub(crate) const ENTITY_TYPES: &[&str] = &[
    GROUP_TYPE,
    IDENTITY_TYPE,
    REQUEST_TYPE,
    CREDENTIAL_TYPE,
    EXCEPTION_TYPE,
];

impl PolicySet {
    /// The set as the API and the CLI show it: digest, each policy as
    /// `permit`/`forbid` with its id, file, reason and text, and the schema.
    pub fn view(&self) -> countersign_proto::api::PolicySetView {
        countersign_proto::api::PolicySetView {
            policy_set: self.digest(),
            policies: self
                .policies()
                .into_iter()
                .map(|p| countersign_proto::api::PolicyView {
                    id: p.id,
                    effect: match p.effect {
                        countersign_proto::governance::Effect::Allow => "permit",
                        countersign_proto::governance::Effect::Deny => "forbid",
                    }
                    .to_string(),
                    file: p.file,
                    reason: p.reason,
                    text: p.text,
                })
                .collect(),
            schema: self.schema_text().to_string(),
        }
    }
}
