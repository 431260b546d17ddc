//! Integration tests: the real server on an ephemeral loopback port, a real
//! SQLite file, real keys and signatures, driven over HTTP. One test binary
//! for the whole workspace's end-to-end behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod architecture;
mod batch;
mod bench;
mod browser;
mod cli_signing;
mod faults;
mod governance;
mod hardening;
mod harness;
mod instances;
mod interop;
mod mail;
mod openapi;
mod passkeys;
mod privacy;
mod reconcile;
mod refusals;
mod scim;
mod tamper;
mod tls;
mod walkthrough;
mod webhooks;
