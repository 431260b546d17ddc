//! Row-scoped reads: which requests (and their documents, evidence,
//! delegations and exceptions) a reader sees.
//!
//! Admins, auditors, compliance and integrations see everything; a person
//! sees what they are a party to (`domain::delegation::party_or_delegate`)
//! and what they registered. A row the reader may not see answers exactly
//! as a row that does not exist, so ids are not an oracle.

use countersign_proto::api::RequestFilter;
use countersign_proto::governance::{Delegation, PolicyException};
use countersign_proto::model::{Document, Request};
use countersign_proto::ErrorCode;
use time::OffsetDateTime;

use super::{Ledger, LedgerError, Result};
use crate::ReadTx;

/// Whose rows a reader sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every row (admins, auditors, compliance, integrations).
    All,
    /// The rows this identity is a party to.
    Party(String),
    /// No row (a caller bound to no identity and seeing nothing in general).
    Nothing,
}

/// The identity label that lets a person decide policy exceptions (and so
/// see them all), as the default policy set names it.
const EXCEPTION_APPROVER: &str = "exception_approver";

impl Ledger {
    /// Whether `scope` sees `r`.
    pub fn sees_request(
        &self,
        tx: &dyn ReadTx,
        scope: &Scope,
        r: &Request,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let Scope::Party(me) = scope else {
            return Ok(*scope == Scope::All);
        };
        let delegations = tx.delegations_of(me)?;
        Ok(countersign_domain::delegation::party_or_delegate(
            r,
            me,
            &delegations,
            now,
        ))
    }

    /// A request `scope` sees, with its state as of now; one it may not
    /// see is "not found".
    pub fn visible_request(&self, id: &str, scope: &Scope, now: OffsetDateTime) -> Result<Request> {
        let r = self.request(id, now)?;
        let tx = self.store.read()?;
        if self.sees_request(&*tx, scope, &r, now)? {
            Ok(r)
        } else {
            Err(LedgerError::refused(
                ErrorCode::RequestNotFound,
                format!("request {id:?} does not exist, or you are not a party to it"),
            ))
        }
    }

    /// The requests matching `filter` that `scope` sees.
    pub fn visible_requests(
        &self,
        filter: &RequestFilter,
        scope: &Scope,
        now: OffsetDateTime,
    ) -> Result<Vec<Request>> {
        let tx = self.store.read()?;
        let limit = filter.limit.map(|l| l as usize);
        let mut unlimited = filter.clone();
        if *scope != Scope::All {
            unlimited.limit = None;
        }
        let mut out = Vec::new();
        for mut r in tx.requests(&unlimited)? {
            if self.sees_request(&*tx, scope, &r, now)? {
                r.state = countersign_domain::request::effective_state(&r, now);
                out.push(r);
            }
        }
        if let Some(l) = limit {
            out.truncate(l);
        }
        Ok(out)
    }

    fn sees_document(
        &self,
        tx: &dyn ReadTx,
        scope: &Scope,
        doc: &Document,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let Scope::Party(me) = scope else {
            return Ok(*scope == Scope::All);
        };
        if doc
            .versions
            .iter()
            .any(|v| v.registered_by.as_deref() == Some(me))
        {
            return Ok(true);
        }
        for r in tx.requests(&RequestFilter::default())? {
            if r.documents.iter().any(|d| d.document == doc.name)
                && self.sees_request(tx, scope, &r, now)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The documents `scope` sees: those they registered, and those of the
    /// requests they see.
    pub fn visible_documents(&self, scope: &Scope, now: OffsetDateTime) -> Result<Vec<Document>> {
        let tx = self.store.read()?;
        let mut out = Vec::new();
        for d in tx.documents()? {
            if self.sees_document(&*tx, scope, &d, now)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// A document `scope` sees; one it may not see is "not found".
    pub fn visible_document(
        &self,
        name: &str,
        scope: &Scope,
        now: OffsetDateTime,
    ) -> Result<Document> {
        let tx = self.store.read()?;
        match tx.document(name)? {
            Some(d) if self.sees_document(&*tx, scope, &d, now)? => Ok(d),
            _ => Err(LedgerError::refused(
                ErrorCode::DocumentNotFound,
                format!("no document {name:?}"),
            )),
        }
    }

    /// A delegation `scope` sees: its principal's and its delegate's.
    pub fn visible_delegation(&self, id: &str, scope: &Scope) -> Result<Delegation> {
        let d = self.delegation(id)?;
        let sees = match scope {
            Scope::All => true,
            Scope::Nothing => false,
            Scope::Party(me) => d.principal == *me || d.delegate == *me,
        };
        if sees {
            Ok(d)
        } else {
            Err(LedgerError::refused(
                ErrorCode::DelegationNotFound,
                format!("no delegation {id:?}"),
            ))
        }
    }

    fn sees_exception(
        &self,
        tx: &dyn ReadTx,
        scope: &Scope,
        e: &PolicyException,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let Scope::Party(me) = scope else {
            return Ok(*scope == Scope::All);
        };
        if e.actor == *me || e.decided_by.as_deref() == Some(me) {
            return Ok(true);
        }
        if tx
            .identity(me)?
            .is_some_and(|i| i.roles.iter().any(|r| r == EXCEPTION_APPROVER))
        {
            return Ok(true);
        }
        match tx.request(&e.request)? {
            Some(r) => self.sees_request(tx, scope, &r, now),
            None => Ok(false),
        }
    }

    /// The exceptions (of one request, or all) `scope` sees: their own,
    /// those they decided, those on requests they see; a person who may
    /// decide exceptions sees them all.
    pub fn visible_exceptions(
        &self,
        request: Option<&str>,
        scope: &Scope,
        now: OffsetDateTime,
    ) -> Result<Vec<PolicyException>> {
        let all = self.exceptions(request, now)?;
        let tx = self.store.read()?;
        let mut out = Vec::new();
        for e in all {
            if self.sees_exception(&*tx, scope, &e, now)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// An exception `scope` sees; one it may not see is "not found".
    pub fn visible_exception(
        &self,
        id: &str,
        scope: &Scope,
        now: OffsetDateTime,
    ) -> Result<PolicyException> {
        let e = self.exception(id, now)?;
        let tx = self.store.read()?;
        if self.sees_exception(&*tx, scope, &e, now)? {
            Ok(e)
        } else {
            Err(LedgerError::refused(
                ErrorCode::ExceptionNotFound,
                format!("no exception {id:?}"),
            ))
        }
    }
}
