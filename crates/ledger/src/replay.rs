//! The state the log says there is: `log audit` replays every entry (its
//! personal fields opened), rebuilds the state tables, the lookup columns
//! and the interior tree hashes from it, and compares them with what the
//! database holds, reporting each difference with its table, key and the
//! log index that says otherwise.
//!
//! What is compared is what decisions and answers rest on: an identity's
//! record and status, a credential's owner, key, kind, assurance and
//! revocation, a request's parties, documents, action, approvers, state
//! and signatures, a document version's digest and its bytes, each
//! receipt, each token's roles, binding and revocation, every entry's
//! lookup columns and every stored tree hash.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use countersign_proto::entry::{Event, LogEntry};
use countersign_proto::governance::{ApiToken, Delegation};
use countersign_proto::model::{
    AssuranceBasis, Credential, DocumentVersion, Identity, Request, WireName as _,
};
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;
use countersign_tlog::proof::TlogProof;
use countersign_tlog::Hash;
use serde_json::Value;

use crate::audit::AuditReport;
use crate::{EntryTerms, StateRows};

/// The state rebuilt so far, each record with the index of the entry that
/// last changed it.
#[derive(Default)]
pub(crate) struct Replay {
    identities: BTreeMap<String, (u64, Identity)>,
    credentials: BTreeMap<String, (u64, Credential)>,
    requests: BTreeMap<String, (u64, Request)>,
    documents: BTreeMap<(String, u32), (u64, DocumentVersion)>,
    /// envelope digest → (signature entry, request)
    receipts: BTreeMap<String, (u64, String)>,
    tokens: BTreeMap<String, (u64, ApiToken)>,
    delegations: BTreeMap<String, (u64, Delegation)>,
    terms: BTreeMap<u64, EntryTerms>,
    leaves: Vec<Hash>,
    hashes: HashMap<(u8, u64), Hash>,
}

struct Stored<'a>(&'a HashMap<(u8, u64), Hash>);

impl countersign_tlog::HashSource for Stored<'_> {
    fn subtree_hash(&self, level: u8, index: u64) -> countersign_tlog::Result<Hash> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or_else(|| countersign_tlog::Error::Source(format!("({level}, {index})")))
    }
}

impl Replay {
    /// The next leaf, in index order: the complete-subtree hashes it makes.
    pub(crate) fn leaf(&mut self, index: u64, leaf: Hash) {
        let made = countersign_tlog::hashes_to_store(index, leaf, &Stored(&self.hashes));
        for (level, i, h) in made.unwrap_or_default() {
            self.hashes.insert((level, i), h);
        }
        self.leaves.push(leaf);
    }

    /// Apply one entry, opened.
    pub(crate) fn apply(&mut self, index: u64, entry: &LogEntry) {
        self.terms
            .insert(index, crate::ledger::terms_of(&entry.event));
        let at = entry.at;
        match &entry.event {
            Event::IdentityCreated { identity } | Event::IdentityUpdated { identity, .. } => {
                self.identities
                    .insert(identity.handle.clone(), (index, identity.clone()));
            }
            Event::IdentityStatusChanged {
                identity,
                revoked_keys,
                ..
            } => {
                self.identities
                    .insert(identity.handle.clone(), (index, identity.clone()));
                for k in revoked_keys {
                    if let Some((i, c)) = self.credentials.get_mut(k) {
                        *i = index;
                        c.revoked_at = Some(at);
                    }
                }
            }
            Event::CredentialEnrolled { credential } => {
                self.credentials
                    .insert(credential.key_id.clone(), (index, credential.clone()));
            }
            Event::CredentialCertified { credential, .. } => {
                // Certificates logged before assurance was earned carry no
                // basis; the CA issued them (as the migration recorded).
                let mut c = credential.clone();
                if c.assurance_basis == AssuranceBasis::Declared {
                    c.assurance_basis = AssuranceBasis::Issued;
                }
                self.credentials.insert(c.key_id.clone(), (index, c));
            }
            Event::CredentialRevoked { key_id, .. } => {
                if let Some((i, c)) = self.credentials.get_mut(key_id) {
                    *i = index;
                    c.revoked_at = Some(at);
                }
            }
            Event::CredentialVouched { key_id, vouch, .. } => {
                if let Some((i, c)) = self.credentials.get_mut(key_id) {
                    *i = index;
                    *c = countersign_domain::identity::vouched(c, vouch.clone());
                }
            }
            Event::DocumentRegistered { version } => {
                self.documents.insert(
                    (version.document.clone(), version.version),
                    (index, version.clone()),
                );
            }
            Event::RequestCreated { request, .. } => {
                let mut r = request.clone();
                r.log_index = index;
                self.requests.insert(r.id.clone(), (index, r));
            }
            Event::SignatureAccepted {
                request,
                actor,
                principal,
                key_id,
                decision,
                envelope_sha256,
                request_state,
                ..
            } => {
                self.receipts
                    .insert(envelope_sha256.clone(), (index, request.clone()));
                if let Some((i, r)) = self.requests.get_mut(request) {
                    *i = index;
                    r.state = *request_state;
                    r.signatures
                        .push(countersign_proto::model::SignatureRecord {
                            actor: actor.clone(),
                            principal: principal.clone(),
                            delegation: None,
                            exception: None,
                            decision: *decision,
                            reason: None,
                            key_id: key_id.clone(),
                            signed_at: at,
                            accepted_at: at,
                            envelope_sha256: envelope_sha256.clone(),
                            log_index: index,
                        });
                }
            }
            Event::RequestClosed { request, state, .. } => {
                if let Some((i, r)) = self.requests.get_mut(request) {
                    *i = index;
                    r.state = *state;
                }
            }
            Event::RequestRerouted {
                request,
                removed,
                added,
                ..
            } => {
                if let Some((i, r)) = self.requests.get_mut(request) {
                    *i = index;
                    match added {
                        Some(a) => {
                            for x in r.approvers.iter_mut().filter(|x| *x == removed) {
                                x.clone_from(a);
                            }
                        }
                        None => r.approvers.retain(|x| x != removed),
                    }
                }
            }
            Event::DelegationGranted { delegation, .. } => {
                self.delegations
                    .insert(delegation.id.clone(), (index, delegation.clone()));
            }
            Event::DelegationEnded {
                delegation, reason, ..
            } => {
                if let Some((i, d)) = self.delegations.get_mut(delegation) {
                    *i = index;
                    d.ended_at = Some(at);
                    d.end_reason = Some(reason.clone());
                }
            }
            Event::TokenIssued { token } => {
                self.tokens.insert(token.id.clone(), (index, token.clone()));
            }
            Event::TokenRevoked { token, .. } => {
                if let Some((i, t)) = self.tokens.get_mut(token) {
                    *i = index;
                    t.revoked_at = Some(at);
                }
            }
            _ => {}
        }
    }

    /// Compare the rebuilt state with the stored one.
    pub(crate) fn compare(
        &self,
        rows: &StateRows,
        checkpoints: &[(u64, String)],
        verifier: &NoteVerifier,
        report: &mut AuditReport,
    ) {
        let mut p = Findings(report, false);
        self.identities_(rows, &mut p);
        self.credentials_(rows, &mut p);
        self.requests_(rows, &mut p);
        self.documents_(rows, &mut p);
        self.receipts_(rows, checkpoints, verifier, &mut p);
        self.tokens_(rows, &mut p);
        self.delegations_(rows, &mut p);
        self.terms_(rows, &mut p);
        self.hashes_(rows, &mut p);
    }

    /// Compare only the identity, credential and request rows given, as the
    /// entries applied (those about them) say they should be.
    pub(crate) fn compare_rows(&self, rows: &StateRows, report: &mut AuditReport) {
        let mut p = Findings(report, true);
        self.identities_(rows, &mut p);
        self.credentials_(rows, &mut p);
        self.requests_(rows, &mut p);
        self.delegations_(rows, &mut p);
    }

    fn delegations_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        let mut seen = BTreeSet::new();
        for (id, principal, delegate, body) in &rows.delegations {
            seen.insert(id.as_str());
            let Some((i, want)) = self.delegations.get(id) else {
                p.unbacked("delegations", id);
                continue;
            };
            let Some(got) = p.parse::<Delegation>("delegations", id, body, *i) else {
                continue;
            };
            if *principal != want.principal || *delegate != want.delegate {
                p.differ(
                    "delegations",
                    id,
                    *i,
                    format!(
                        "its columns say {principal} to {delegate}; the log says {} to {}",
                        want.principal, want.delegate
                    ),
                );
            }
            let view = |d: &Delegation| {
                serde_json::json!({
                    "id": d.id, "principal": d.principal, "delegate": d.delegate,
                    "scope": d.scope, "not_before": d.not_before.unix_timestamp(),
                    "not_after": d.not_after.unix_timestamp(), "ended": d.ended_at.is_some(),
                })
            };
            for field in fields_differing(&view(&got), &view(want)) {
                p.differ(
                    "delegations",
                    id,
                    *i,
                    format!("{field} differs from what the log recorded"),
                );
            }
        }
        for (id, (i, _)) in &self.delegations {
            if !seen.contains(id.as_str()) {
                p.missing("delegations", id, *i);
            }
        }
    }

    fn identities_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        let mut seen = BTreeSet::new();
        for (handle, kind, status, body) in &rows.identities {
            seen.insert(handle.as_str());
            let Some((i, want)) = self.identities.get(handle) else {
                p.unbacked("identities", handle);
                continue;
            };
            let Some(got) = p.parse::<Identity>("identities", handle, body, *i) else {
                continue;
            };
            if kind != want.kind.as_str() || status != want.status.as_str() {
                p.differ(
                    "identities",
                    handle,
                    *i,
                    format!(
                        "its kind and status columns say {kind}, {status}; the log says {}, {}",
                        want.kind.as_str(),
                        want.status.as_str()
                    ),
                );
            }
            for field in fields_differing(&got, want) {
                p.differ(
                    "identities",
                    handle,
                    *i,
                    format!("{field} differs from what the log recorded"),
                );
            }
        }
        for (handle, (i, _)) in &self.identities {
            if !seen.contains(handle.as_str()) {
                p.missing("identities", handle, *i);
            }
        }
    }

    fn credentials_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        let mut seen = BTreeSet::new();
        for (key_id, identity, body) in &rows.credentials {
            seen.insert(key_id.as_str());
            let Some((i, want)) = self.credentials.get(key_id) else {
                p.unbacked("credentials", key_id);
                continue;
            };
            let Some(got) = p.parse::<Credential>("credentials", key_id, body, *i) else {
                continue;
            };
            if *identity != want.identity {
                p.differ(
                    "credentials",
                    key_id,
                    *i,
                    format!(
                        "its identity column says {identity}; the log says {}",
                        want.identity
                    ),
                );
            }
            // A declared label earns nothing (AAL 1 whatever it says), and
            // keys enrolled before assurance was earned kept theirs.
            let view = |c: &Credential| {
                let assurance =
                    (c.assurance_basis != AssuranceBasis::Declared).then_some(c.assurance);
                serde_json::json!({
                    "identity": c.identity, "kind": c.kind, "algorithm": c.algorithm,
                    "public_key": c.public_key, "assurance": assurance,
                    "assurance_basis": c.assurance_basis, "passkey": c.passkey,
                    "expires_at": c.expires_at.map(|t| t.unix_timestamp()),
                    "revoked": c.revoked_at.is_some(), "certificate": c.certificate,
                    "label": c.label, "key_id": c.key_id, "log_index": c.log_index,
                })
            };
            for field in fields_differing(&view(&got), &view(want)) {
                p.differ(
                    "credentials",
                    key_id,
                    *i,
                    if field == "revoked" {
                        format!(
                            "it is {} but the log says {}",
                            if got.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "not revoked"
                            },
                            if want.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "not revoked"
                            }
                        )
                    } else {
                        format!("{field} differs from what the log recorded")
                    },
                );
            }
        }
        for (key_id, (i, _)) in &self.credentials {
            if !seen.contains(key_id.as_str()) {
                p.missing("credentials", key_id, *i);
            }
        }
    }

    fn requests_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        let mut approvers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (r, a) in &rows.request_approvers {
            approvers.entry(r.as_str()).or_default().insert(a.as_str());
        }
        let mut seen = BTreeSet::new();
        for (id, state, requester, beneficiary, body) in &rows.requests {
            seen.insert(id.as_str());
            let Some((i, want)) = self.requests.get(id) else {
                p.unbacked("requests", id);
                continue;
            };
            let Some(got) = p.parse::<Request>("requests", id, body, *i) else {
                continue;
            };
            if state != want.state.name()
                || *requester != want.requester
                || *beneficiary != want.beneficiary
            {
                p.differ(
                    "requests",
                    id,
                    *i,
                    format!(
                        "its columns say {state}, requested by {requester} for {beneficiary}; the log says {}, {} for {}",
                        want.state.name(),
                        want.requester,
                        want.beneficiary
                    ),
                );
            }
            let listed: BTreeSet<&str> = want.approvers.iter().map(String::as_str).collect();
            if approvers.get(id.as_str()).cloned().unwrap_or_default() != listed {
                p.differ(
                    "request_approvers",
                    id,
                    *i,
                    "the approver rows differ from the approvers the log recorded".into(),
                );
            }
            let view = |r: &Request| {
                serde_json::json!({
                    "id": r.id, "purpose": r.purpose,
                    "state": r.state, "event_kind": r.event_kind, "impact": r.impact,
                    "documents": r.documents, "action": r.action, "requester": r.requester,
                    "beneficiary": r.beneficiary, "approvers": r.approvers, "order": r.order,
                    "quorum": r.quorum, "expires_at": r.expires_at.unix_timestamp(),
                    "log_index": r.log_index,
                    "signatures": r.signatures.iter().map(|s| serde_json::json!({
                        "actor": s.actor, "principal": s.principal, "decision": s.decision,
                        "key_id": s.key_id, "envelope_sha256": s.envelope_sha256,
                        "log_index": s.log_index,
                    })).collect::<Vec<_>>(),
                })
            };
            for field in fields_differing(&view(&got), &view(want)) {
                p.differ(
                    "requests",
                    id,
                    *i,
                    if field == "state" {
                        format!(
                            "its state is {} but the log says {}",
                            got.state.name(),
                            want.state.name()
                        )
                    } else {
                        format!("{field} differs from what the log recorded")
                    },
                );
            }
        }
        for (id, (i, _)) in &self.requests {
            if !seen.contains(id.as_str()) {
                p.missing("requests", id, *i);
            }
        }
    }

    fn documents_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        let blobs: BTreeMap<&str, &str> = rows
            .blobs
            .iter()
            .map(|(k, d)| (k.as_str(), d.as_str()))
            .collect();
        for (key, digest) in &blobs {
            if key != digest {
                p.differ(
                    "blobs",
                    key,
                    self.documents
                        .values()
                        .find(|(_, v)| v.sha256 == *key)
                        .map_or(0, |(i, _)| *i),
                    format!("the stored bytes hash to {digest}"),
                );
            }
        }
        let mut seen = BTreeSet::new();
        for (name, version, sha256, body) in &rows.document_versions {
            let key = format!("{name} v{version}");
            seen.insert((name.clone(), *version));
            let Some((i, want)) = self.documents.get(&(name.clone(), *version)) else {
                p.unbacked("document_versions", &key);
                continue;
            };
            let Some(got) = p.parse::<DocumentVersion>("document_versions", &key, body, *i) else {
                continue;
            };
            if *sha256 != want.sha256 || got.sha256 != want.sha256 {
                p.differ(
                    "document_versions",
                    &key,
                    *i,
                    format!(
                        "its digest is {sha256} but the log registered {}",
                        want.sha256
                    ),
                );
            } else {
                for field in fields_differing(&got, want) {
                    p.differ(
                        "document_versions",
                        &key,
                        *i,
                        format!("{field} differs from what the log recorded"),
                    );
                }
            }
        }
        for ((name, version), (i, _)) in &self.documents {
            if !seen.contains(&(name.clone(), *version)) {
                p.missing("document_versions", &format!("{name} v{version}"), *i);
            }
        }
    }

    fn receipts_(
        &self,
        rows: &StateRows,
        checkpoints: &[(u64, String)],
        verifier: &NoteVerifier,
        p: &mut Findings<'_>,
    ) {
        let stored: BTreeMap<u64, &str> =
            checkpoints.iter().map(|(s, n)| (*s, n.as_str())).collect();
        for (digest, r) in &rows.receipts {
            let Some((i, request)) = self.receipts.get(digest) else {
                p.unbacked("receipts", digest);
                continue;
            };
            if r.log_index != *i || r.request != *request {
                p.differ(
                    "receipts",
                    digest,
                    *i,
                    format!(
                        "it names entry {} of request {}; the log accepted this envelope at entry {i} for {request}",
                        r.log_index, r.request
                    ),
                );
                continue;
            }
            let checked = TlogProof::parse(&r.receipt)
                .map_err(|e| format!("it does not parse: {e}"))
                .and_then(|proof| {
                    let cp = Checkpoint::open(&proof.checkpoint, verifier)
                        .map_err(|e| format!("its checkpoint does not verify: {e}"))?;
                    let leaf = self
                        .leaves
                        .get(usize::try_from(*i).unwrap_or(usize::MAX))
                        .ok_or("its entry is not in the log")?;
                    if proof.index != *i {
                        return Err(format!("it proves entry {}", proof.index));
                    }
                    countersign_tlog::verify_inclusion(*i, cp.size, leaf, &proof.hashes, &cp.root)
                        .map_err(|e| format!("its inclusion proof fails: {e}"))?;
                    match stored.get(&cp.size) {
                        Some(n) if *n == proof.checkpoint.as_str() => Ok(()),
                        Some(_) => Err(format!(
                            "its checkpoint for size {} differs from the one in table checkpoints",
                            cp.size
                        )),
                        None => Err(format!(
                            "the checkpoint for size {} it was answered with is missing from table checkpoints",
                            cp.size
                        )),
                    }
                });
            if let Err(why) = checked {
                p.differ("receipts", digest, *i, why);
            }
        }
    }

    fn tokens_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        let mut seen = BTreeSet::new();
        for (id, body) in &rows.tokens {
            seen.insert(id.as_str());
            let Some((i, want)) = self.tokens.get(id) else {
                p.unbacked("api_tokens", id);
                continue;
            };
            let Some(got) = p.parse::<ApiToken>("api_tokens", id, body, *i) else {
                continue;
            };
            let view = |t: &ApiToken| {
                serde_json::json!({
                    "id": t.id, "name": t.name, "roles": t.roles, "identity": t.identity,
                    "expires_at": t.expires_at.unix_timestamp(),
                    "revoked": t.revoked_at.is_some(),
                })
            };
            for field in fields_differing(&view(&got), &view(want)) {
                p.differ(
                    "api_tokens",
                    id,
                    *i,
                    format!("{field} differs from what the log recorded"),
                );
            }
        }
        for (id, (i, _)) in &self.tokens {
            if !seen.contains(id.as_str()) {
                p.missing("api_tokens", id, *i);
            }
        }
    }

    fn terms_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        for (index, stored) in &rows.entry_terms {
            if let Some(want) = self.terms.get(index) {
                if stored != want {
                    p.differ(
                        "log_entries",
                        &index.to_string(),
                        *index,
                        format!(
                            "its lookup columns say {} / {} / {} / {}; its bytes say {} / {} / {} / {}",
                            stored.kind,
                            stored.request.as_deref().unwrap_or("-"),
                            stored.identity.as_deref().unwrap_or("-"),
                            stored.key_id.as_deref().unwrap_or("-"),
                            want.kind,
                            want.request.as_deref().unwrap_or("-"),
                            want.identity.as_deref().unwrap_or("-"),
                            want.key_id.as_deref().unwrap_or("-")
                        ),
                    );
                }
            }
        }
    }

    fn hashes_(&self, rows: &StateRows, p: &mut Findings<'_>) {
        let mut seen = BTreeSet::new();
        for (level, i, h) in &rows.tree_hashes {
            seen.insert((*level, *i));
            let first = i.checked_shl(u32::from(*level)).unwrap_or(u64::MAX);
            match self.hashes.get(&(*level, *i)) {
                Some(want) if want == h => {}
                Some(_) => p.differ(
                    "tree_hashes",
                    &format!("level {level} index {i}"),
                    first,
                    "it differs from the hash of the entries it covers".into(),
                ),
                None => p.unbacked("tree_hashes", &format!("level {level} index {i}")),
            }
        }
        for (level, i) in self.hashes.keys() {
            if !seen.contains(&(*level, *i)) {
                // A complete subtree's hash is stored when its last entry is
                // appended: that entry is where it went missing.
                let last = i
                    .saturating_add(1)
                    .checked_shl(u32::from(*level))
                    .unwrap_or(u64::MAX)
                    .saturating_sub(1);
                p.missing("tree_hashes", &format!("level {level} index {i}"), last);
            }
        }
    }
}

/// The top-level fields in which two records' JSON differ.
fn fields_differing<T: serde::Serialize>(got: &T, want: &T) -> Vec<String> {
    let (Ok(Value::Object(g)), Ok(Value::Object(w))) =
        (serde_json::to_value(got), serde_json::to_value(want))
    else {
        return vec!["the record".into()];
    };
    let keys: BTreeSet<&String> = g.keys().chain(w.keys()).collect();
    keys.into_iter()
        .filter(|k| g.get(*k) != w.get(*k))
        .map(|k| k.to_string())
        .collect()
}

struct Findings<'a>(&'a mut AuditReport, bool);

impl Findings<'_> {
    fn differ(&mut self, table: &str, key: &str, index: u64, what: String) {
        self.0.problem(
            Some(index),
            format!("table {table}, key {key}: {what} (log index {index})"),
        );
    }

    fn unbacked(&mut self, table: &str, key: &str) {
        self.0.problem(
            None,
            format!("table {table}, key {key}: no log entry backs this row (added behind the log's back?)"),
        );
    }

    fn missing(&mut self, table: &str, key: &str, index: u64) {
        if self.1 {
            // Checking some rows only: the others are not missing.
            return;
        }
        self.0.problem(
            Some(index),
            format!("table {table}, key {key}: missing, though log index {index} recorded it"),
        );
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &mut self,
        table: &str,
        key: &str,
        body: &str,
        index: u64,
    ) -> Option<T> {
        match serde_json::from_str(body) {
            Ok(v) => Some(v),
            Err(e) => {
                self.differ(table, key, index, format!("its record does not parse: {e}"));
                None
            }
        }
    }
}
