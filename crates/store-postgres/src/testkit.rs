//! A fresh PostgreSQL database for each test (feature `testkit`).
//!
//! Tests of the PostgreSQL backend run against a server named by
//! `COUNTERSIGN_TEST_POSTGRES` (a URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`; its database is only
//! where `CREATE DATABASE` is issued from). Each [`TestDatabase`] is a new
//! database of its own on that server, dropped with the value, so tests
//! run in parallel and leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, NoTls};

use crate::describe;

/// The environment variable naming the test server.
pub const SERVER_ENV: &str = "COUNTERSIGN_TEST_POSTGRES";

/// The test server's URL, if `COUNTERSIGN_TEST_POSTGRES` names one.
pub fn server_from_env() -> Option<String> {
    std::env::var(SERVER_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// The test server for tests that need one (`what` says which), or
/// `None` after saying they do not run. Under CI (`CI` set, and not
/// `false` or `0`) a missing server fails instead: a check CI skips is
/// a check that is not made.
pub fn server_for(what: &str) -> Option<String> {
    if let Some(s) = server_from_env() {
        return Some(s);
    }
    let ci = std::env::var("CI").unwrap_or_default();
    if !ci.is_empty() && ci != "false" && ci != "0" {
        panic!(
            "{SERVER_ENV} is unset under CI, so {what} would go untested; set it to a server \
             URL such as postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
    eprintln!("{SERVER_ENV} unset: {what} not run");
    None
}

/// A database created for one test, dropped (with any connection still
/// open to it) when this value is.
pub struct TestDatabase {
    /// The URL of the new database, for `PostgresStore::open`.
    pub url: String,
    /// Its name on the server.
    pub name: String,
    server: String,
}

impl TestDatabase {
    /// Create a uniquely named database on the server at `server_url`.
    /// Panics if the server cannot be reached: it is for tests.
    pub fn create(server_url: &str) -> TestDatabase {
        Self::try_create(server_url).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Create a uniquely named database on the server at `server_url`,
    /// or say why not (the benchmark harness's scratch databases).
    pub fn try_create(server_url: &str) -> crate::Result<TestDatabase> {
        static CREATED: AtomicU64 = AtomicU64::new(0);
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let name = format!(
            "countersign_test_{}_{}_{random:016x}",
            std::process::id(),
            CREATED.fetch_add(1, Ordering::Relaxed)
        );
        let sql = format!("CREATE DATABASE \"{name}\"");
        let mut created = Ok(());
        on_own_thread(|| {
            created = Client::connect(server_url, NoTls)
                .and_then(|mut c| c.batch_execute(&sql))
                .map_err(|e| {
                    crate::StoreError::Setup(format!(
                        "creating the database {name} on the PostgreSQL server: {}",
                        describe(&e)
                    ))
                });
        });
        created?;
        Ok(TestDatabase {
            url: with_database(server_url, &name),
            name,
            server: server_url.to_string(),
        })
    }

    /// A client of the database itself, to look at or tamper with what a
    /// store wrote. Use it from a plain thread, as the store.
    pub fn connect(&self) -> Client {
        connect(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        on_own_thread(|| {
            let dropped =
                Client::connect(&self.server, NoTls).and_then(|mut c| c.batch_execute(&sql));
            if let Err(e) = dropped {
                eprintln!("dropping test database {}: {}", self.name, describe(&e));
            }
        });
    }
}

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| {
        panic!(
            "connecting to the PostgreSQL test server ({SERVER_ENV}): {}",
            describe(&e)
        )
    })
}

/// Run `f` on a thread of its own, so a test may use this from async code
/// (the driver's client may not run on an async worker thread).
fn on_own_thread(f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        if let Err(panic) = s.spawn(f).join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// `server` with its database replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    match server.split_once("://") {
        Some((scheme, rest)) => {
            let (before_query, query) = match rest.find('?') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = before_query.split('/').next().unwrap_or(before_query);
            format!("{scheme}://{authority}/{name}{query}")
        }
        // libpq's key=value form: a later key wins.
        None => format!("{server} dbname={name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t2"),
            "postgresql://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
        assert_eq!(
            with_database("host=h user=u", "t4"),
            "host=h user=u dbname=t4"
        );
    }
}
