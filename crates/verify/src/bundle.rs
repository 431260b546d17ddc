//! The evidence-bundle verifier: one pass over the bundle, recording a
//! [`Check`](crate::Check) for every finding.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_attest::commitment::{open_entry, OpenError, Unopened};
use countersign_attest::keys::public_key_from_base64;
use countersign_attest::passkey::{Origins, PasskeyVerified};
use countersign_attest::x509::{self, X509Error};
use countersign_attest::{envelope_digest, key_id, statement_of, verify_with_credential};
use countersign_domain::delegation;
use countersign_domain::identity::credential_valid_at;
use countersign_domain::policy::{signature_aal, PasskeyProof};
use countersign_domain::request::{order_respected, state_from_signatures};
use countersign_proto::entry::{Event, ENTRY_VERSION};
use countersign_proto::evidence::{EvidenceBundle, EvidenceEntry, EVIDENCE_FORMAT};
use countersign_proto::governance::{
    AuthContext, Delegation, Effect, ExceptionState, PolicyAction, PolicyDecision, PolicyException,
};
use countersign_proto::model::{
    ApprovalOrder, Assurance, AssuranceBasis, Credential, CredentialKind, Decision, IdentityStatus,
    Request, RequestState, SignatureRecord, Vouch,
};
use countersign_proto::statement::{Envelope, Statement};
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;
use countersign_tlog::{leaf_hash, verify_inclusion, Hash};
use sha2::{Digest as _, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{Options, Report};

/// No tree this verifier can meet needs a longer inclusion proof.
const MAX_PROOF_HASHES: usize = 64;

/// A log entry whose inclusion in the checkpoint has been verified.
struct Entry {
    index: u64,
    at: OffsetDateTime,
    /// The event with its personal fields opened from the bundle's openings.
    event: Event,
    /// The personal fields the bundle has no opening for.
    erased: Vec<Unopened>,
}

/// RFC 3339, or the debug form for dates RFC 3339 cannot express.
fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// A hostile string cut to a readable length.
fn short(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

fn vkey_name(v: &NoteVerifier) -> String {
    format!("{}+{:08x}", v.name(), v.key_id())
}

pub(crate) fn verify(json: &[u8], options: &Options) -> Report {
    let mut r = Report::default();
    let bundle: EvidenceBundle = match serde_json::from_slice(json) {
        Ok(b) => b,
        Err(e) => {
            r.fail(
                "bundle.parse",
                format!("the input is not an evidence bundle: {e}"),
            );
            return r;
        }
    };
    r.request = Some(bundle.request.id.clone());
    r.pass(
        "bundle.parse",
        format!(
            "evidence bundle for request {} exported at {} with {} log entries",
            short(&bundle.request.id),
            ts(bundle.exported_at),
            bundle.entries.len()
        ),
    );
    if bundle.format == EVIDENCE_FORMAT {
        r.pass("bundle.format", format!("format is {EVIDENCE_FORMAT}"));
    } else {
        r.fail(
            "bundle.format",
            format!(
                "format is {:?}, expected {EVIDENCE_FORMAT:?}",
                short(&bundle.format)
            ),
        );
    }

    let Some(key) = trusted_key(&bundle, options, &mut r) else {
        r.warn("the remaining checks were skipped: there is no usable log key");
        return r;
    };
    let checkpoint = match Checkpoint::open(&bundle.checkpoint, &key) {
        Ok(cp) => {
            r.pass(
                "checkpoint.signature",
                format!(
                    "checkpoint signed by {}: origin {}, tree size {}, root {}",
                    vkey_name(&key),
                    cp.origin,
                    cp.size,
                    B64.encode(cp.root)
                ),
            );
            cp
        }
        Err(e) => {
            r.fail(
                "checkpoint.signature",
                format!(
                    "the checkpoint does not verify with log key {}: {e}",
                    vkey_name(&key)
                ),
            );
            r.warn("the remaining checks were skipped: without a verified checkpoint no log entry can be trusted");
            return r;
        }
    };

    let entries = check_entries(&bundle, &checkpoint, &mut r);
    check_log_created(&bundle, &entries, &key, &mut r);
    RequestVerifier::new(&bundle, &entries, options).run(&mut r);
    r
}

/// The log key to verify with: the pinned one if given, else the bundle's.
fn trusted_key(bundle: &EvidenceBundle, options: &Options, r: &mut Report) -> Option<NoteVerifier> {
    let shipped = match NoteVerifier::from_vkey(bundle.log_key.trim()) {
        Ok(v) => {
            r.pass(
                "log_key.parse",
                format!("the bundle's log key is {}", v.to_vkey()),
            );
            Some(v)
        }
        Err(e) => {
            r.fail(
                "log_key.parse",
                format!(
                    "the bundle's log key {:?} is not a signed-note verifier key: {e}",
                    short(&bundle.log_key)
                ),
            );
            None
        }
    };
    let Some(pinned) = &options.pinned_log_key else {
        if let Some(v) = &shipped {
            r.warn(format!(
                "the log key {} was taken from the bundle itself; pass the log's published key (--log-key) to verify against a key you trust",
                v.to_vkey()
            ));
        }
        return shipped;
    };
    match NoteVerifier::from_vkey(pinned.trim()) {
        Err(e) => {
            r.fail(
                "log_key.pinned",
                format!(
                    "the pinned log key {:?} is not a signed-note verifier key: {e}",
                    short(pinned)
                ),
            );
            None
        }
        Ok(pinned) => {
            if shipped.as_ref() == Some(&pinned) {
                r.pass(
                    "log_key.pinned",
                    format!(
                        "the bundle's log key is the pinned key {}",
                        pinned.to_vkey()
                    ),
                );
            } else {
                r.fail(
                    "log_key.pinned",
                    format!(
                        "the bundle's log key {:?} is not the pinned key {}",
                        short(&bundle.log_key),
                        pinned.to_vkey()
                    ),
                );
            }
            Some(pinned)
        }
    }
}

/// Check order, inclusion and syntax of every shipped entry; answers the
/// entries that can be trusted, by index.
fn check_entries(bundle: &EvidenceBundle, cp: &Checkpoint, r: &mut Report) -> BTreeMap<u64, Entry> {
    let misordered: Vec<(usize, u64, u64)> = bundle
        .entries
        .windows(2)
        .enumerate()
        .filter_map(|(pos, pair)| match pair {
            [a, b] if b.index <= a.index => Some((pos + 1, a.index, b.index)),
            _ => None,
        })
        .collect();
    match misordered.first() {
        None => r.pass(
            "bundle.order",
            format!("{} entries, in increasing index order", bundle.entries.len()),
        ),
        Some((pos, before, after)) => r.fail(
            "bundle.order",
            format!(
                "entries are not in increasing index order: index {after} follows index {before} at position {pos} ({} such place{})",
                misordered.len(),
                if misordered.len() == 1 { "" } else { "s" }
            ),
        ),
    }

    let mut trusted = BTreeMap::new();
    for ee in &bundle.entries {
        let n = ee.index;
        let parsed = open_entry(ee.entry.as_bytes(), |c| bundle.openings.get(c));
        let kind = parsed
            .as_ref()
            .map(|e| e.entry.event.kind())
            .unwrap_or("unparseable");
        let included = inclusion(ee, cp);
        match &included {
            Ok(()) => r.pass(
                "entry.inclusion",
                format!(
                    "entry {n} ({kind}) is included in the checkpoint at tree size {}",
                    cp.size
                ),
            ),
            Err(why) => r.fail("entry.inclusion", format!("entry {n} ({kind}) {why}")),
        }
        match parsed {
            Err(OpenError::Parse(e)) => {
                r.fail("entry.parse", format!("entry {n} is not a valid log entry: {e}"))
            }
            Err(e) => r.fail("entry.opening", format!("entry {n}: {e}")),
            Ok(o) if !(1..=ENTRY_VERSION).contains(&o.entry.v) => r.fail(
                "entry.parse",
                format!(
                    "entry {n} has entry format version {}; this verifier understands 1 to {ENTRY_VERSION}",
                    o.entry.v
                ),
            ),
            Ok(o) => {
                if included.is_ok() {
                    // Two included entries with one index have the same bytes.
                    trusted.entry(n).or_insert(Entry {
                        index: n,
                        at: o.entry.at,
                        event: o.entry.event,
                        erased: o.erased,
                    });
                }
            }
        }
    }
    check_erasures(&trusted, r);
    trusted
}

/// Every personal field without an opening must have been erased by a
/// `personal.erased` entry the bundle proves; an opening merely left out
/// of the bundle is a failure, not an erasure.
fn check_erasures(entries: &BTreeMap<u64, Entry>, r: &mut Report) {
    // commitment → (erasing entry, whose values it erased)
    let erasures: HashMap<&str, (u64, &str)> = entries
        .values()
        .filter_map(|e| match &e.event {
            Event::PersonalErased {
                commitments,
                identity,
                ..
            } => Some((e.index, identity.as_str(), commitments)),
            _ => None,
        })
        .flat_map(|(i, who, cs)| cs.iter().map(move |c| (c.as_str(), (i, who))))
        .collect();
    // Only a terminated person is erased: when each was terminated.
    let terminated: HashMap<&str, u64> = entries
        .values()
        .filter_map(|e| match &e.event {
            Event::IdentityStatusChanged { identity, .. }
                if identity.status == countersign_proto::model::IdentityStatus::Terminated =>
            {
                Some((identity.handle.as_str(), e.index))
            }
            _ => None,
        })
        .collect();
    let legitimate = |u: &Unopened, index: u64| -> Result<u64, String> {
        let Some((by, who)) = erasures.get(u.commitment.as_str()).copied() else {
            return Err("no entry records its erasure".into());
        };
        if by <= index {
            return Err(format!("entry {by} erases it before it was written"));
        }
        if u.subject.as_deref() != Some(who) {
            return Err(format!(
                "entry {by} erases {who}'s values, but this field is {}",
                u.subject
                    .as_deref()
                    .map_or("nobody's".to_string(), |s| format!("{s}'s"))
            ));
        }
        match terminated.get(who) {
            Some(t) if *t < by => Ok(by),
            _ => Err(format!(
                "entry {by} erases {who}, but the bundle proves no termination of {who} before it"
            )),
        }
    };
    let mut erased = 0usize;
    for e in entries.values() {
        for u in &e.erased {
            match legitimate(u, e.index) {
                Ok(by) => {
                    erased += 1;
                    r.pass(
                        "entry.erased",
                        format!("entry {}: {} was erased by entry {by}", e.index, u.path),
                    )
                }
                Err(why) => r.fail(
                    "entry.opening",
                    format!(
                        "entry {}: the bundle holds no opening for {} ({}): {why}",
                        e.index,
                        u.path,
                        short(&u.commitment)
                    ),
                ),
            }
        }
    }
    if erased > 0 {
        r.warnings.push(format!(
            "{erased} personal field{} in this bundle {} erased: what the log recorded stands, but an erased signed statement can no longer be re-checked",
            if erased == 1 { "" } else { "s" },
            if erased == 1 { "was" } else { "were" }
        ));
    }
}

fn inclusion(ee: &EvidenceEntry, cp: &Checkpoint) -> Result<(), String> {
    if ee.index >= cp.size {
        return Err(format!("is beyond the checkpoint's tree size {}", cp.size));
    }
    if ee.proof.len() > MAX_PROOF_HASHES {
        return Err(format!(
            "has an inclusion proof of {} hashes, more than any tree needs",
            ee.proof.len()
        ));
    }
    let mut hashes: Vec<Hash> = Vec::with_capacity(ee.proof.len());
    for (k, h) in ee.proof.iter().enumerate() {
        let hash = countersign_tlog::hash_from_base64(h)
            .map_err(|e| format!("has proof hash {k} that {e}"))?;
        hashes.push(hash);
    }
    verify_inclusion(
        ee.index,
        cp.size,
        &leaf_hash(ee.entry.as_bytes()),
        &hashes,
        &cp.root,
    )
    .map_err(|e| {
        format!(
            "is not included in the checkpoint at tree size {}: {e}",
            cp.size
        )
    })
}

fn check_log_created(
    bundle: &EvidenceBundle,
    entries: &BTreeMap<u64, Entry>,
    key: &NoteVerifier,
    r: &mut Report,
) {
    match entries.get(&0).map(|e| &e.event) {
        Some(Event::LogCreated {
            origin,
            verifier_key,
        }) => {
            let named = NoteVerifier::from_vkey(verifier_key.trim());
            if named.as_ref().ok() != Some(key) {
                r.fail(
                    "log.created",
                    format!(
                        "entry 0 names verifier key {:?}, not the log key {}",
                        short(verifier_key),
                        key.to_vkey()
                    ),
                );
            } else if origin != key.name() {
                r.fail(
                    "log.created",
                    format!(
                        "entry 0 names origin {:?}, not the log key's name {:?}",
                        short(origin),
                        key.name()
                    ),
                );
            } else {
                r.pass(
                    "log.created",
                    format!(
                        "entry 0 creates log {origin} with verifier key {}",
                        vkey_name(key)
                    ),
                );
            }
        }
        Some(other) => r.fail(
            "log.created",
            format!("entry 0 is a {} entry, not log.created", other.kind()),
        ),
        None => {
            if !bundle.entries.iter().any(|e| e.index == 0) {
                r.warn("entry 0 (log.created) is not in the bundle, so the log's own record of its key was not checked");
            }
        }
    }
    for e in entries.values() {
        if e.index != 0 && matches!(e.event, Event::LogCreated { .. }) {
            r.fail(
                "log.created",
                format!(
                    "entry {} is a log.created entry; only entry 0 may be",
                    e.index
                ),
            );
        }
    }
}

/// What the log recorded about one accepted signature, for cross-checks.
struct Accepted<'a> {
    actor: &'a str,
    principal: Option<&'a str>,
    delegation: Option<&'a str>,
    exception: Option<&'a str>,
    decision: Decision,
    key_id: &'a str,
    envelope_sha256: &'a str,
    at: OffsetDateTime,
    statement: Option<Statement>,
}

/// The state a request is in while replaying its entries.
struct Decided {
    index: u64,
    at: OffsetDateTime,
    state: RequestState,
}

/// A credential the log records for a key: enrolled, or certified for a
/// workload (with the OIDC issuer that vouched for it).
struct Enrolment<'a> {
    index: u64,
    credential: &'a Credential,
    oidc_issuer: Option<&'a str>,
}

/// A `ca.created` entry.
struct CaEntry<'a> {
    index: u64,
    certificate: &'a str,
    fingerprint: &'a str,
}

/// A `policy.activated` entry.
struct Activation<'a> {
    index: u64,
    policy_set: &'a str,
    policies: &'a [String],
}

/// A `delegation.ended` entry.
struct Ending<'a> {
    index: u64,
    at: OffsetDateTime,
    reason: &'a str,
}

struct RequestVerifier<'a> {
    bundle: &'a EvidenceBundle,
    entries: &'a BTreeMap<u64, Entry>,
    options: &'a Options,
    /// Enrolments and certifications by key id, in index order.
    enrolled: HashMap<&'a str, Vec<Enrolment<'a>>>,
    /// Revocations by key id: indexes, in order.
    revoked: HashMap<&'a str, Vec<u64>>,
    /// Vouchings for a key's hardware label by key id: (index, vouch).
    vouched: HashMap<&'a str, Vec<(u64, &'a Vouch)>>,
    /// Identity records by handle: (index, status), in index order.
    identity: HashMap<&'a str, Vec<(u64, IdentityStatus)>>,
    /// Workload CA certificates, in index order.
    cas: Vec<CaEntry<'a>>,
    /// Policy sets put in force, in index order.
    activated: Vec<Activation<'a>>,
    /// Delegation grants by delegation id: (index, delegation, decision).
    granted: HashMap<&'a str, Vec<(u64, &'a Delegation, &'a PolicyDecision)>>,
    /// Early ends of delegations by delegation id, in index order.
    ended: HashMap<&'a str, Vec<Ending<'a>>>,
    /// Exception decisions by exception id: (index, exception, decision).
    decided_exceptions: HashMap<&'a str, Vec<(u64, &'a PolicyException, &'a PolicyDecision)>>,
    /// Accepted signatures (of any request in the bundle) by the exception
    /// they used: their indexes.
    exception_uses: HashMap<&'a str, Vec<u64>>,
}

impl<'a> RequestVerifier<'a> {
    fn new(
        bundle: &'a EvidenceBundle,
        entries: &'a BTreeMap<u64, Entry>,
        options: &'a Options,
    ) -> Self {
        let mut v = RequestVerifier {
            bundle,
            entries,
            options,
            enrolled: HashMap::new(),
            revoked: HashMap::new(),
            vouched: HashMap::new(),
            identity: HashMap::new(),
            cas: Vec::new(),
            activated: Vec::new(),
            granted: HashMap::new(),
            ended: HashMap::new(),
            decided_exceptions: HashMap::new(),
            exception_uses: HashMap::new(),
        };
        for e in entries.values() {
            let index = e.index;
            match &e.event {
                Event::CredentialEnrolled { credential } => v
                    .enrolled
                    .entry(credential.key_id.as_str())
                    .or_default()
                    .push(Enrolment {
                        index,
                        credential,
                        oidc_issuer: None,
                    }),
                Event::CredentialCertified {
                    credential,
                    oidc_issuer,
                    ..
                } => v
                    .enrolled
                    .entry(credential.key_id.as_str())
                    .or_default()
                    .push(Enrolment {
                        index,
                        credential,
                        oidc_issuer: Some(oidc_issuer),
                    }),
                Event::CredentialRevoked { key_id, .. } => {
                    v.revoked.entry(key_id.as_str()).or_default().push(index)
                }
                Event::CredentialVouched { key_id, vouch, .. } => v
                    .vouched
                    .entry(key_id.as_str())
                    .or_default()
                    .push((index, vouch)),
                Event::IdentityStatusChanged {
                    identity: i,
                    revoked_keys,
                    ..
                } => {
                    v.identity
                        .entry(i.handle.as_str())
                        .or_default()
                        .push((index, i.status));
                    for k in revoked_keys {
                        v.revoked.entry(k.as_str()).or_default().push(index);
                    }
                }
                Event::IdentityCreated { identity: i }
                | Event::IdentityUpdated { identity: i, .. } => v
                    .identity
                    .entry(i.handle.as_str())
                    .or_default()
                    .push((index, i.status)),
                Event::CaCreated {
                    certificate,
                    fingerprint,
                } => v.cas.push(CaEntry {
                    index,
                    certificate,
                    fingerprint,
                }),
                Event::PolicyActivated {
                    policy_set,
                    policies,
                    ..
                } => v.activated.push(Activation {
                    index,
                    policy_set,
                    policies,
                }),
                Event::DelegationGranted { delegation, policy } => v
                    .granted
                    .entry(delegation.id.as_str())
                    .or_default()
                    .push((index, delegation, policy)),
                Event::DelegationEnded {
                    delegation, reason, ..
                } => v
                    .ended
                    .entry(delegation.as_str())
                    .or_default()
                    .push(Ending {
                        index,
                        at: e.at,
                        reason,
                    }),
                Event::ExceptionDecided { exception, policy } => v
                    .decided_exceptions
                    .entry(exception.id.as_str())
                    .or_default()
                    .push((index, exception, policy)),
                Event::SignatureAccepted {
                    exception: Some(x), ..
                } => v.exception_uses.entry(x.as_str()).or_default().push(index),
                _ => {}
            }
        }
        v
    }

    fn run(&self, r: &mut Report) {
        let (base, created_at_index) = self.created(r);
        self.check_documents(&base, created_at_index, r);
        let (accepted, decided, replayed) = self.replay(&base, r);
        self.check_view_signatures(&accepted, r);
        self.check_state(&base, decided.as_ref(), replayed, r);
        self.check_files(&base, &accepted, r);
        if accepted.is_empty() {
            r.warn(format!(
                "the log holds no accepted signature for request {}",
                short(&self.bundle.request.id)
            ));
        }
    }

    /// Find the `request.created` entry and compare the view with it.
    /// Answers the request as created (signatures cleared, pending) and the
    /// creating entry's index.
    fn created(&self, r: &mut Report) -> (Request, Option<u64>) {
        let view = &self.bundle.request;
        let id = view.id.as_str();
        let created: Vec<(u64, &Request, Option<&PolicyDecision>)> = self
            .entries
            .values()
            .filter_map(|e| match &e.event {
                Event::RequestCreated { request, policy } if request.id == id => {
                    Some((e.index, request, policy.as_ref()))
                }
                _ => None,
            })
            .collect();
        let (index, request) = match created.as_slice() {
            [] => {
                r.fail(
                    "request.created",
                    format!(
                        "no request.created entry for request {} is in the bundle",
                        short(id)
                    ),
                );
                return (as_created(view), None);
            }
            [(index, request, policy)] => {
                if request.log_index == *index {
                    let allowed = policy
                        .map(|d| format!(" ({})", describe_decision(d)))
                        .unwrap_or_default();
                    r.pass(
                        "request.created",
                        format!(
                            "request {} was created by entry {index}{allowed}",
                            short(id)
                        ),
                    );
                } else {
                    r.fail(
                        "request.created",
                        format!(
                            "entry {index} creates request {} but records log index {}",
                            short(id),
                            request.log_index
                        ),
                    );
                }
                (*index, *request)
            }
            [(index, request, _), ..] => {
                let all: Vec<String> = created.iter().map(|(i, _, _)| i.to_string()).collect();
                r.fail(
                    "request.created",
                    format!(
                        "request {} is created by more than one entry: {}",
                        short(id),
                        all.join(", ")
                    ),
                );
                (*index, *request)
            }
        };
        // Approvers change after creation only by logged re-routing.
        let mut approvers_now = request.approvers.clone();
        for e in self.entries.values() {
            if let Event::RequestRerouted {
                request: rid,
                removed,
                added,
                ..
            } = &e.event
            {
                if rid == id {
                    reroute(&mut approvers_now, removed, added.as_deref());
                }
            }
        }
        let differing = differing_fields(view, request, index, &approvers_now);
        if differing.is_empty() {
            r.pass(
                "request.view",
                format!(
                    "the bundle's request view agrees with entry {index} on every immutable field"
                ),
            );
        } else {
            r.fail(
                "request.view",
                format!(
                    "the bundle's request view differs from the request.created entry {index} in: {}",
                    differing.join(", ")
                ),
            );
        }
        (as_created(request), Some(index))
    }

    fn check_documents(&self, base: &Request, created: Option<u64>, r: &mut Report) {
        for d in &base.documents {
            let registered: Vec<(u64, &str)> = self
                .entries
                .values()
                .filter_map(|e| match &e.event {
                    Event::DocumentRegistered { version }
                        if version.document == d.document && version.version == d.version =>
                    {
                        Some((e.index, version.sha256.as_str()))
                    }
                    _ => None,
                })
                .collect();
            let name = format!("document {} version {}", short(&d.document), d.version);
            let matching = registered.iter().find(|(_, sha)| *sha == d.sha256);
            match matching {
                Some((i, _)) if created.is_none_or(|c| *i < c) => r.pass(
                    "document.registered",
                    format!("{name} (sha256 {}) was registered by entry {i}", d.sha256),
                ),
                Some((i, _)) => r.fail(
                    "document.registered",
                    format!(
                        "{name} was registered by entry {i}, after the request that names it (entry {})",
                        created.unwrap_or_default()
                    ),
                ),
                None => match registered.first() {
                    Some((i, sha)) => r.fail(
                        "document.registered",
                        format!(
                            "{name}: the request names sha256 {} but entry {i} registered sha256 {}",
                            d.sha256,
                            short(sha)
                        ),
                    ),
                    None => r.fail(
                        "document.registered",
                        format!(
                            "no document.registered entry for {name} (sha256 {}) is in the bundle",
                            d.sha256
                        ),
                    ),
                },
            }
        }
    }

    /// Walk the request's entries in index order, checking every accepted
    /// signature and closing and replaying the state. Answers the accepted
    /// signatures by index, the entry that decided the request, and the
    /// state the replay ends in.
    fn replay(
        &self,
        base: &Request,
        r: &mut Report,
    ) -> (BTreeMap<u64, Accepted<'a>>, Option<Decided>, RequestState) {
        let id = base.id.as_str();
        let mut replay = base.clone();
        let mut accepted = BTreeMap::new();
        let mut signed_by: HashMap<&str, u64> = HashMap::new();
        let mut decided: Option<Decided> = None;
        for e in self.entries.values() {
            match &e.event {
                Event::SignatureAccepted {
                    request,
                    actor,
                    principal,
                    delegation,
                    exception,
                    policy,
                    auth,
                    decision,
                    key_id,
                    envelope_sha256,
                    envelope,
                    request_state,
                } if request == id => {
                    let sig = SignatureEntry {
                        index: e.index,
                        at: e.at,
                        actor,
                        principal: principal.as_deref(),
                        delegation: delegation.as_deref(),
                        exception: exception.as_deref(),
                        policy: policy.as_ref(),
                        auth: auth.as_ref(),
                        decision: *decision,
                        key_id,
                        envelope_sha256,
                        envelope,
                        request_state: *request_state,
                        erased: e.erased.iter().any(|u| u.path == "envelope.payload"),
                    };
                    let statement = self.check_signature(
                        &sig,
                        base,
                        &mut replay,
                        &mut signed_by,
                        &mut decided,
                        r,
                    );
                    accepted.insert(
                        e.index,
                        Accepted {
                            actor,
                            principal: sig.principal,
                            delegation: sig.delegation,
                            exception: sig.exception,
                            decision: *decision,
                            key_id,
                            envelope_sha256,
                            at: e.at,
                            statement,
                        },
                    );
                }
                Event::RequestRerouted {
                    request,
                    removed,
                    added,
                    reason,
                } if request == id => {
                    let result = if decided.is_some() {
                        Err(format!(
                            "entry {} re-routes the request after it was decided",
                            e.index
                        ))
                    } else if !replay.approvers.contains(removed) {
                        Err(format!(
                            "entry {} re-routes away from {}, who is not an approver",
                            e.index,
                            short(removed)
                        ))
                    } else if signed_by.contains_key(removed.as_str()) {
                        Err(format!(
                            "entry {} re-routes away from {}, who had already signed",
                            e.index,
                            short(removed)
                        ))
                    } else {
                        let to = added
                            .as_deref()
                            .map(|a| format!(" to {}", short(a)))
                            .unwrap_or_default();
                        Ok(format!(
                            "entry {} re-routes {}'s approval{to}: {}",
                            e.index,
                            short(removed),
                            short(reason)
                        ))
                    };
                    r.check("request.rerouted", result);
                    reroute(&mut replay.approvers, removed, added.as_deref());
                }
                Event::RequestClosed { request, state, .. } if request == id => {
                    check_close(e, *state, base, &mut decided, r);
                    replay.state = decided.as_ref().map_or(replay.state, |d| d.state);
                }
                Event::SignatureRefused {
                    code,
                    detail,
                    request: Some(request),
                    actor,
                    principal,
                    key_id,
                    policy,
                    ..
                } if request == id => {
                    let key = key_id
                        .as_deref()
                        .map(|k| format!(" with key {}", short(k)))
                        .unwrap_or_default();
                    let on_behalf = principal
                        .as_deref()
                        .filter(|p| Some(*p) != actor.as_deref())
                        .map(|p| format!(" for {}", short(p)))
                        .unwrap_or_default();
                    let by_policy = policy
                        .as_ref()
                        .map(|d| format!("; {}", describe_decision(d)))
                        .unwrap_or_default();
                    r.pass(
                        "signature.refused",
                        format!(
                            "refused attempt at entry {}: code {code} by actor {}{on_behalf}{key}: {}{by_policy}",
                            e.index,
                            actor.as_deref().map_or("(unknown)".to_string(), short),
                            short(detail)
                        ),
                    );
                }
                Event::ExceptionRequested { exception: x } if x.request == id => {
                    let refused_by = if x.refused_by.is_empty() {
                        String::new()
                    } else {
                        format!(" (refused by {})", short(&x.refused_by.join(", ")))
                    };
                    r.pass(
                        "exception.requested",
                        format!(
                            "entry {}: {} asked for exception {} to the policy refusal at entry {}{refused_by}: {}",
                            e.index,
                            short(&x.actor),
                            short(&x.id),
                            x.refusal_index,
                            short(&x.justification)
                        ),
                    );
                }
                Event::ExceptionDecided {
                    exception: x,
                    policy,
                } if x.request == id => {
                    let until = match (x.state, x.expires_at) {
                        (ExceptionState::Approved, Some(t)) => format!(", usable until {}", ts(t)),
                        _ => String::new(),
                    };
                    r.pass(
                        "exception.decided",
                        format!(
                            "entry {}: exception {} for {} was {} by {}{until} ({})",
                            e.index,
                            short(&x.id),
                            short(&x.actor),
                            x.state.as_str(),
                            x.decided_by
                                .as_deref()
                                .map_or("(unknown)".to_string(), short),
                            describe_decision(policy)
                        ),
                    );
                }
                _ => {}
            }
        }
        (accepted, decided, replay.state)
    }

    /// The envelope's digest and form: answers its statement, if it decodes.
    fn check_envelope_form(
        &self,
        sig: &SignatureEntry<'a>,
        who: &str,
        r: &mut Report,
    ) -> Option<Statement> {
        // The recorded digest is the envelope's.
        r.check(
            "signature.digest",
            match envelope_digest(sig.envelope) {
                Ok(d) if d == sig.envelope_sha256 => {
                    Ok(format!("{who}: envelope digest {d} matches the entry"))
                }
                Ok(d) => Err(format!(
                    "{who}: the envelope's digest is {d} but the entry records {}",
                    short(sig.envelope_sha256)
                )),
                Err(e) => Err(format!("{who}: cannot compute the envelope digest: {e}")),
            },
        );

        // A well-formed approval statement with one signature by the entry's key.
        match statement_of(sig.envelope) {
            Ok(s) => {
                r.check(
                    "signature.statement",
                    match sig.envelope.signatures.as_slice() {
                        [s] if s.keyid == sig.key_id => Ok(format!(
                            "{who}: the envelope holds an approval statement signed once by key {}",
                            sig.key_id
                        )),
                        [s] => Err(format!(
                            "{who}: the envelope's signature names key {:?}, the entry names key {}",
                            short(&s.keyid),
                            short(sig.key_id)
                        )),
                        sigs => Err(format!(
                            "{who}: the envelope has {} signatures; exactly one is required",
                            sigs.len()
                        )),
                    },
                );
                Some(s)
            }
            Err(e) => {
                r.fail(
                    "signature.statement",
                    format!("{who}: the envelope is not a valid approval statement: {e}"),
                );
                None
            }
        }
    }

    /// Every check on one accepted signature. Answers its statement, if it
    /// decodes.
    fn check_signature(
        &self,
        sig: &SignatureEntry<'a>,
        base: &Request,
        replay: &mut Request,
        signed_by: &mut HashMap<&'a str, u64>,
        decided: &mut Option<Decided>,
        r: &mut Report,
    ) -> Option<Statement> {
        let n = sig.index;
        let actor = sig.actor;
        let who = format!("entry {n} (signature by {})", short(actor));

        // An erased statement leaves what the log recorded about the
        // signature; the signature itself can no longer be re-checked.
        let statement = if sig.erased {
            r.pass(
                "signature.erased",
                format!(
                    "{who}: the signed statement was erased; the log's record of the signature (key {}, envelope digest {}) stands, the signature cannot be re-checked",
                    short(sig.key_id),
                    short(sig.envelope_sha256)
                ),
            );
            None
        } else {
            self.check_envelope_form(sig, &who, r)
        };

        // The key was enrolled (or certified), earlier, for this actor.
        let credential = self.credential(sig, &who, r);
        if let Some((m, c)) = credential {
            // Whatever the credential says its kind is, one that came from a
            // certification or carries a certificate must chain to the CA.
            let certified = self
                .enrolled
                .get(sig.key_id)
                .and_then(|v| v.iter().find(|e| e.index == m))
                .is_some_and(|e| e.oidc_issuer.is_some());
            if certified || c.kind == CredentialKind::Certificate || c.certificate.is_some() {
                r.check("signature.certificate", self.certificate(sig, m, c, &who));
            }
        }

        // ... and was neither revoked nor expired when the signature was recorded.
        if let Some((_, c)) = credential {
            let revoked_by = self
                .revoked
                .get(sig.key_id)
                .and_then(|v| v.iter().find(|i| **i < n));
            r.check(
                "signature.credential_status",
                match revoked_by {
                    Some(m) => Err(format!(
                        "{who}: key {} was revoked by entry {m}, before this signature",
                        short(sig.key_id)
                    )),
                    None => match credential_valid_at(c, sig.at) {
                        Ok(()) => Ok(format!(
                            "{who}: key {} was neither revoked nor expired at {}",
                            short(sig.key_id),
                            ts(sig.at)
                        )),
                        Err(refusal) => Err(format!(
                            "{who}: {} (the signature was recorded at {})",
                            refusal.detail,
                            ts(sig.at)
                        )),
                    },
                },
            );
        }

        // The DSSE signature verifies with the enrolled credential: Ed25519
        // over the PAE for a key, a WebAuthn assertion over the PAE's digest
        // for a passkey (offline, any origin WebAuthn allows for the
        // passkey's RP ID).
        let passkey = match credential {
            _ if sig.erased => None,
            Some((m, c)) => {
                let c = self.as_of(c, sig.index);
                let kind = if c.kind == CredentialKind::Passkey {
                    "WebAuthn assertion"
                } else {
                    "DSSE signature"
                };
                match verify_with_credential(sig.envelope, &c, Origins::RpIdScope, false) {
                    Ok(p) => {
                        r.pass(
                            "signature.envelope",
                            format!(
                                "{who}: the {kind} verifies with the credential enrolled by entry {m} ({})",
                                short(sig.key_id)
                            ),
                        );
                        self.check_assurance(sig, &c, p.as_ref(), &who, r);
                        p
                    }
                    Err(e) => {
                        r.fail(
                            "signature.envelope",
                            format!(
                                "{who}: the {kind} does not verify with the credential enrolled by entry {m} ({}): {e}",
                                short(sig.key_id)
                            ),
                        );
                        None
                    }
                }
            }
            None => {
                r.fail(
                    "signature.envelope",
                    format!(
                        "{who}: there is no usable enrolled credential for key {} to verify the signature with",
                        short(sig.key_id)
                    ),
                );
                None
            }
        };
        let _ = passkey;

        if let Some(st) = &statement {
            self.check_statement(sig, st, base, &who, r);
        }

        // Signing for someone else needs a delegation the log recorded.
        if let Some(result) = self.delegation(sig, statement.as_ref(), base, &who) {
            r.check("signature.delegation", result);
        }

        // The approver slot the signature fills: the principal under a
        // delegation, otherwise the actor.
        let approver = sig.principal.unwrap_or(actor);
        let delegated = approver != actor;

        // The actor, and the principal signed for, were active when signing.
        r.check("signature.identity", self.active(actor, n, &who, ""));
        if delegated {
            r.check(
                "signature.identity",
                self.active(approver, n, &who, "the principal "),
            );
        }

        // An approver who had not signed before, in order.
        let slot = if delegated {
            format!("{} (signed for by {})", short(approver), short(actor))
        } else {
            short(approver)
        };
        let position = replay.approvers.iter().position(|a| a == approver);
        r.check(
            "signature.approver",
            match (position, signed_by.get(approver)) {
                (None, _) => Err(format!(
                    "{who}: {} is not an approver of request {}",
                    short(approver),
                    short(&base.id)
                )),
                (Some(_), Some(m)) => Err(format!(
                    "{who}: {} already signed this request at entry {m}",
                    short(approver)
                )),
                (Some(p), None) => Ok(format!(
                    "{who}: {slot} is approver {} of {} and had not signed before",
                    p + 1,
                    replay.approvers.len()
                )),
            },
        );
        if base.order == ApprovalOrder::Sequential {
            r.check(
                "signature.order",
                if position.is_none() || order_respected(replay, approver) {
                    Ok(format!(
                        "{who}: every approver listed before {} had signed",
                        short(approver)
                    ))
                } else {
                    let missing: Vec<&str> = replay
                        .approvers
                        .iter()
                        .take_while(|a| a.as_str() != approver)
                        .filter(|a| !signed_by.contains_key(a.as_str()))
                        .map(String::as_str)
                        .collect();
                    Err(format!(
                        "{who}: the request is sequential but {} had not signed before {}",
                        missing.join(", "),
                        short(approver)
                    ))
                },
            );
        }

        // The policy set in force allowed it ...
        self.check_policy(sig, &who, r);
        // ... or a break-glass exception did, once.
        if let Some(x) = sig.exception {
            r.check("signature.exception", self.exception(sig, x, base, &who));
        }

        // The request was still open.
        r.check(
            "signature.pending",
            match decided.as_ref() {
                Some(d) => Err(format!(
                    "{who}: the request was already {} (entry {}) when this signature was accepted",
                    d.state.as_str(),
                    d.index
                )),
                None if sig.at >= base.expires_at => Err(format!(
                    "{who}: recorded at {}, when the request had expired (at {})",
                    ts(sig.at),
                    ts(base.expires_at)
                )),
                None => Ok(format!("{who}: the request was pending and unexpired")),
            },
        );

        // Replaying the quorum rules gives the recorded state.
        signed_by.entry(approver).or_insert(n);
        replay.signatures.push(SignatureRecord {
            actor: actor.to_string(),
            principal: sig.principal.map(str::to_string),
            delegation: sig.delegation.map(str::to_string),
            exception: sig.exception.map(str::to_string),
            decision: sig.decision,
            reason: statement.as_ref().and_then(|s| s.predicate.reason.clone()),
            key_id: sig.key_id.to_string(),
            signed_at: statement.as_ref().map_or(sig.at, |s| s.predicate.signed_at),
            accepted_at: sig.at,
            envelope_sha256: sig.envelope_sha256.to_string(),
            log_index: n,
        });
        let computed = state_from_signatures(replay);
        let rule = format!(
            "quorum {} of {} approvers, {} signature{}",
            base.quorum,
            base.approvers.len(),
            replay.signatures.len(),
            if replay.signatures.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        r.check(
            "signature.state",
            if computed == sig.request_state {
                Ok(format!(
                    "{who}: replaying the signatures ({rule}) gives {}",
                    computed.as_str()
                ))
            } else {
                Err(format!(
                    "{who}: replaying the signatures ({rule}) gives {}, but the entry records {}",
                    computed.as_str(),
                    sig.request_state.as_str()
                ))
            },
        );
        if decided.is_none() {
            replay.state = computed;
            if computed != RequestState::Pending {
                *decided = Some(Decided {
                    index: n,
                    at: sig.at,
                    state: computed,
                });
            }
        }
        statement
    }

    /// The credential as it stood at entry `n`: the enrolment, with any
    /// vouching the log recorded before `n` applied.
    fn as_of(&self, c: &Credential, n: u64) -> Credential {
        match self
            .vouched
            .get(c.key_id.as_str())
            .and_then(|all| all.iter().rev().find(|(i, _)| *i < n))
        {
            Some((_, v)) => countersign_domain::identity::vouched(c, (*v).clone()),
            None => c.clone(),
        }
    }

    /// What the credential and the signature prove about assurance, in
    /// words, and that the log does not claim more than they prove (a
    /// higher recorded AAL needs a session: an OIDC sign-in the log cannot
    /// show, named in the method).
    fn check_assurance(
        &self,
        sig: &SignatureEntry<'a>,
        c: &Credential,
        passkey: Option<&PasskeyVerified>,
        who: &str,
        r: &mut Report,
    ) {
        let proof = passkey.map(|p| PasskeyProof {
            user_verified: p.user_verified,
        });
        let proven = signature_aal(c, proof.as_ref());
        let what = describe_credential(c, passkey);
        let Some(auth) = sig.auth else {
            r.pass(
                "signature.assurance",
                format!("{who}: signed with {what}; the signature proves AAL{proven}"),
            );
            return;
        };
        let session = auth.method.contains("oidc:") || auth.method.contains("session:");
        r.check(
            "signature.assurance",
            if auth.aal <= proven || session {
                Ok(format!(
                    "{who}: signed with {what}; the signature proves AAL{proven}, the log records {}",
                    describe_auth(auth)
                ))
            } else {
                Err(format!(
                    "{who}: the log records AAL{} ({}), but {what} proves only AAL{proven} and no sign-in session is named",
                    auth.aal, auth.method
                ))
            },
        );
    }

    /// The enrolment of the signature's key, checked against the actor.
    fn credential(
        &self,
        sig: &SignatureEntry<'a>,
        who: &str,
        r: &mut Report,
    ) -> Option<(u64, &'a Credential)> {
        let n = sig.index;
        let all = self
            .enrolled
            .get(sig.key_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let earlier: Vec<&Enrolment<'a>> = all.iter().filter(|e| e.index < n).collect();
        let Some(first) = earlier.first() else {
            let later = all
                .first()
                .map(|e| format!(" (entry {} enrols it only later)", e.index))
                .unwrap_or_default();
            r.fail(
                "signature.credential",
                format!(
                    "{who}: no credential.enrolled entry (nor credential.certified) for key {} before index {n} is in the bundle{later}",
                    short(sig.key_id)
                ),
            );
            return None;
        };
        let (m, c) = (first.index, first.credential);
        let how = match c.kind {
            CredentialKind::Key | CredentialKind::Passkey => "enrolled",
            CredentialKind::Certificate => "certified",
        };
        let result = if let Some(other) =
            earlier.iter().find(|e| e.credential.identity != sig.actor)
        {
            Err(format!(
                "{who}: key {} is enrolled for {} (entry {}), not for the signer {}",
                short(sig.key_id),
                short(&other.credential.identity),
                other.index,
                short(sig.actor)
            ))
        } else if c.kind == CredentialKind::Passkey {
            passkey_enrolment(c)
                .map(|()| {
                    format!(
                        "{who}: passkey {} was {how} for {} by entry {m}",
                        short(sig.key_id),
                        short(sig.actor)
                    )
                })
                .map_err(|e| format!("{who}: the passkey {how} by entry {m} is not usable: {e}"))
        } else {
            match public_key_from_base64(&c.public_key) {
                Err(e) => Err(format!(
                    "{who}: the public key {how} by entry {m} is unreadable: {e}"
                )),
                Ok(k) if key_id(&k) != c.key_id => Err(format!(
                    "{who}: entry {m} enrols a public key whose key id is {}, not {}",
                    key_id(&k),
                    short(&c.key_id)
                )),
                Ok(_) => Ok(format!(
                    "{who}: key {} was {how} for {} by entry {m}",
                    short(sig.key_id),
                    short(sig.actor)
                )),
            }
        };
        r.check("signature.credential", result);
        Some((m, c))
    }

    /// A certificate credential against the workload CA the log published
    /// before the signature: the chain verifies at the signature's entry
    /// time, and the certificate certifies the credential's key for the actor.
    fn certificate(
        &self,
        sig: &SignatureEntry<'a>,
        m: u64,
        c: &Credential,
        who: &str,
    ) -> Result<String, String> {
        let n = sig.index;
        let pem = c.certificate.as_deref().ok_or_else(|| {
            format!(
                "{who}: entry {m} certifies key {} but holds no certificate",
                short(&c.key_id)
            )
        })?;
        let leaf = x509::pem_to_der(pem)
            .map_err(|e| format!("{who}: the certificate in entry {m} is unreadable: {e}"))?;
        let cas: Vec<&CaEntry<'a>> = self.cas.iter().filter(|ca| ca.index < n).collect();
        if cas.is_empty() {
            let later = self
                .cas
                .first()
                .map(|ca| format!(" (entry {} publishes one only later)", ca.index))
                .unwrap_or_default();
            return Err(format!(
                "{who}: no ca.created entry before index {n} is in the bundle to check the certificate of entry {m} against{later}"
            ));
        }
        // Any CA the log published before the signature may have issued it.
        let mut misses = Vec::new();
        let mut found = None;
        for ca in cas {
            match chain_to(&leaf, ca, sig.at) {
                Ok(info) => {
                    found = Some((ca, info));
                    break;
                }
                Err(why) => misses.push(why),
            }
        }
        let Some((ca, info)) = found else {
            return Err(format!(
                "{who}: the certificate of entry {m} does not verify: {}",
                misses.join("; ")
            ));
        };
        let window = format!("valid {} to {}", ts(info.not_before), ts(info.not_after));
        let key = B64.decode(c.public_key.trim()).unwrap_or_default();
        if key != info.public_key {
            return Err(format!(
                "{who}: the certificate (serial {}) certifies key {}, which differs from the credential's key {} in entry {m}",
                short(&info.serial),
                B64.encode(info.public_key),
                short(&c.public_key)
            ));
        }
        if info.identity.as_deref() != Some(sig.actor) {
            return Err(format!(
                "{who}: the certificate (serial {}) names identity {}, which differs from the signer {}",
                short(&info.serial),
                info.identity.as_deref().map_or("(none)".to_string(), short),
                short(sig.actor)
            ));
        }
        let recorded_issuer = self
            .enrolled
            .get(sig.key_id)
            .and_then(|v| v.iter().find(|e| e.index == m))
            .and_then(|e| e.oidc_issuer);
        if let (Some(cert), Some(logged)) = (info.oidc_issuer.as_deref(), recorded_issuer) {
            if cert != logged {
                return Err(format!(
                    "{who}: the certificate (serial {}) names OIDC issuer {}, but entry {m} records {}",
                    short(&info.serial),
                    short(cert),
                    short(logged)
                ));
            }
        }
        let issuer = info
            .oidc_issuer
            .as_deref()
            .map(|i| format!(", on the word of {}", short(i)))
            .unwrap_or_default();
        Ok(format!(
            "{who}: certificate serial {} ({window}) was issued to {} by CA {} (ca.created entry {}) and was valid at {}{issuer}",
            short(&info.serial),
            short(sig.actor),
            short(ca.fingerprint),
            ca.index,
            ts(sig.at)
        ))
    }

    /// Whether `handle` was active before entry `n`.
    fn active(&self, handle: &str, n: u64, who: &str, role: &str) -> Result<String, String> {
        let status = self
            .identity
            .get(handle)
            .and_then(|v| v.iter().rev().find(|(i, _)| *i < n));
        match status {
            None => Err(format!(
                "{who}: no identity entry for {role}{} before index {n} is in the bundle",
                short(handle)
            )),
            Some((m, IdentityStatus::Active)) => Ok(format!(
                "{who}: {role}{} was active when signing (entry {m})",
                short(handle)
            )),
            Some((m, s)) => Err(format!(
                "{who}: {role}{} was {} when signing (entry {m})",
                short(handle),
                s.as_str()
            )),
        }
    }

    /// The delegation a signature for someone else relies on; `None` when
    /// neither the entry nor the statement claims one.
    fn delegation(
        &self,
        sig: &SignatureEntry<'a>,
        statement: Option<&Statement>,
        base: &Request,
        who: &str,
    ) -> Option<Result<String, String>> {
        let actor = sig.actor;
        let recorded = sig.principal.filter(|p| *p != actor);
        // `None` when the statement does not decode (already a failure).
        let stated = statement.map(|s| s.predicate.principal.as_deref().filter(|p| *p != actor));
        if recorded.is_none() && stated.flatten().is_none() && sig.delegation.is_none() {
            return None;
        }
        Some(
            self.delegation_for(sig, recorded, stated, base)
                .map(|ok| format!("{who}: {ok}"))
                .map_err(|why| format!("{who}: {why}")),
        )
    }

    fn delegation_for(
        &self,
        sig: &SignatureEntry<'a>,
        recorded: Option<&str>,
        stated: Option<Option<&str>>,
        base: &Request,
    ) -> Result<String, String> {
        let actor = sig.actor;
        let n = sig.index;
        let principal = match (recorded, stated) {
            (Some(e), Some(Some(s))) if e != s => {
                return Err(format!(
                    "the entry records a signature for {}, but the statement's principal is {}",
                    short(e),
                    short(s)
                ))
            }
            (Some(e), Some(None)) => {
                return Err(format!(
                    "the entry records a signature for {}, but the statement names no principal",
                    short(e)
                ))
            }
            (None, Some(Some(s))) => {
                return Err(format!(
                    "the statement signs for {}, but the entry records no principal",
                    short(s)
                ))
            }
            (Some(e), _) => e,
            (None, _) => {
                return Err(format!(
                    "the entry names delegation {} but no principal other than the actor",
                    sig.delegation.map_or("(none)".to_string(), short)
                ))
            }
        };
        let Some(id) = sig.delegation else {
            return Err(format!(
                "{} signed for {} but the entry names no delegation",
                short(actor),
                short(principal)
            ));
        };
        let all = self.granted.get(id).map(Vec::as_slice).unwrap_or_default();
        let earlier: Vec<&(u64, &Delegation, &PolicyDecision)> =
            all.iter().filter(|(i, _, _)| *i < n).collect();
        let (m, d, decision) = match earlier.as_slice() {
            [] => {
                let later = all
                    .first()
                    .map(|(i, _, _)| format!(" (entry {i} grants it only later)"))
                    .unwrap_or_default();
                return Err(format!(
                    "no delegation.granted entry for delegation {} before index {n} is in the bundle{later}",
                    short(id)
                ));
            }
            [one] => **one,
            more => {
                let at: Vec<String> = more.iter().map(|(i, _, _)| i.to_string()).collect();
                return Err(format!(
                    "delegation {} is granted by more than one entry: {}",
                    short(id),
                    at.join(", ")
                ));
            }
        };
        if d.principal != principal || d.delegate != actor {
            return Err(format!(
                "delegation {} (entry {m}) lets {} sign for {}, not {} for {}",
                short(id),
                short(&d.delegate),
                short(&d.principal),
                short(actor),
                short(principal)
            ));
        }
        if !decision.allowed() {
            return Err(format!(
                "the grant of delegation {} (entry {m}) records a deny decision",
                short(id)
            ));
        }
        if let Some(end) = self
            .ended
            .get(id)
            .and_then(|v| v.iter().find(|e| e.index < n))
        {
            return Err(format!(
                "delegation {} was ended by entry {} at {} ({}), before this signature",
                short(id),
                end.index,
                ts(end.at),
                short(end.reason)
            ));
        }
        match delegation::authorise(std::slice::from_ref(d), principal, actor, base, sig.at) {
                Ok(d) => Ok(format!(
                    "{} signed for {} under delegation {} granted by {} (entry {m}), valid {} to {}, covering {}",
                    short(actor),
                    short(principal),
                    short(&d.id),
                    short(&d.granted_by),
                    ts(d.not_before),
                    ts(d.not_after),
                    describe_scope(d)
                )),
                Err(refusal) => Err(format!(
                    "delegation {} (entry {m}) does not cover this signature at {}: {}",
                    short(id),
                    ts(sig.at),
                    refusal.detail
                )),
            }
    }

    /// The policy decision the entry records against the policy set the
    /// log had put in force before it.
    fn check_policy(&self, sig: &SignatureEntry<'a>, who: &str, r: &mut Report) {
        let n = sig.index;
        let activation = self.activated.iter().rev().find(|a| a.index < n);
        let Some(d) = sig.policy else {
            match activation {
                // Written before this log had policies.
                None => r.warn(format!(
                    "{who}: the entry records no policy decision, and no policy.activated entry precedes it (a signature from before policies)"
                )),
                Some(a) => r.fail(
                    "signature.policy",
                    format!(
                        "{who}: the entry records no policy decision, but policy set {} was in force (policy.activated entry {})",
                        short(a.policy_set),
                        a.index
                    ),
                ),
            }
            return;
        };
        let result = match activation {
            _ if d.action != PolicyAction::Sign => Err(format!(
                "{who}: the entry records a policy decision for action {}, not sign",
                d.action.as_str()
            )),
            _ if d.effect != Effect::Allow => Err(format!(
                "{who}: the entry records a deny decision ({})",
                describe_decision(d)
            )),
            None => Err(format!(
                "{who}: the entry was allowed under policy set {}, but no policy.activated entry before index {n} is in the bundle",
                short(&d.policy_set)
            )),
            Some(a) if a.policy_set != d.policy_set => Err(format!(
                "{who}: the entry was allowed under policy set {}, but the set in force was {} (policy.activated entry {})",
                short(&d.policy_set),
                short(a.policy_set),
                a.index
            )),
            Some(a) => {
                let unknown: Vec<&str> = d
                    .policies
                    .iter()
                    .filter(|p| !a.policies.is_empty() && !a.policies.contains(p))
                    .map(String::as_str)
                    .collect();
                if unknown.is_empty() {
                    Ok(format!(
                        "{who}: {} (policy.activated entry {}{})",
                        describe_decision(d),
                        a.index,
                        sig.auth
                            .map(|c| format!("; {}", describe_auth(c)))
                            .unwrap_or_default()
                    ))
                } else {
                    Err(format!(
                        "{who}: the decision names {}, which the set activated by entry {} does not hold",
                        short(&unknown.join(", ")),
                        a.index
                    ))
                }
            }
        };
        r.check("signature.policy", result);
        if !d.errors.is_empty() {
            r.warn(format!(
                "{who}: {} polic{} failed to evaluate when the signature was allowed: {}",
                d.errors.len(),
                if d.errors.len() == 1 { "y" } else { "ies" },
                short(&d.errors.join("; "))
            ));
        }
    }

    /// The break-glass exception a signature used: approved for this actor
    /// and request by someone else, unexpired, and used once.
    fn exception(
        &self,
        sig: &SignatureEntry<'a>,
        id: &str,
        base: &Request,
        who: &str,
    ) -> Result<String, String> {
        let n = sig.index;
        let all = self
            .decided_exceptions
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(&(m, x, decision)) = all.iter().rev().find(|(i, _, _)| *i < n) else {
            let later = all
                .first()
                .map(|(i, _, _)| format!(" (entry {i} decides it only later)"))
                .unwrap_or_default();
            return Err(format!(
                "{who}: no exception.decided entry for exception {} before index {n} is in the bundle{later}",
                short(id)
            ));
        };
        if x.state != ExceptionState::Approved {
            return Err(format!(
                "{who}: exception {} was {} by entry {m}, not approved",
                short(id),
                x.state.as_str()
            ));
        }
        if !decision.allowed() {
            return Err(format!(
                "{who}: the approval of exception {} (entry {m}) records a deny decision",
                short(id)
            ));
        }
        if x.actor != sig.actor || x.request != base.id {
            return Err(format!(
                "{who}: exception {} (entry {m}) is for {} on request {}, not {} on request {}",
                short(id),
                short(&x.actor),
                short(&x.request),
                short(sig.actor),
                short(&base.id)
            ));
        }
        let decider = x.decided_by.as_deref().unwrap_or_default();
        if decider.is_empty() || decider == sig.actor {
            return Err(format!(
                "{who}: exception {} (entry {m}) was approved by {}, not by someone other than the signer",
                short(id),
                if decider.is_empty() { "nobody named".to_string() } else { short(decider) }
            ));
        }
        let expires = match x.expires_at {
            Some(t) if t > sig.at => t,
            Some(t) => {
                return Err(format!(
                    "{who}: exception {} (entry {m}) expired at {}, before the signature at {}",
                    short(id),
                    ts(t),
                    ts(sig.at)
                ))
            }
            None => {
                return Err(format!(
                    "{who}: exception {} (entry {m}) records no expiry",
                    short(id)
                ))
            }
        };
        let others: Vec<String> = self
            .exception_uses
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|i| **i != n)
            .map(u64::to_string)
            .collect();
        if !others.is_empty() {
            return Err(format!(
                "{who}: exception {} is single-use but entr{} {} used it too",
                short(id),
                if others.len() == 1 { "y" } else { "ies" },
                others.join(", ")
            ));
        }
        Ok(format!(
            "{who}: used exception {}, approved by {} at entry {m} and usable until {}",
            short(id),
            short(decider),
            ts(expires)
        ))
    }

    /// What the statement says against the entry and the request.
    fn check_statement(
        &self,
        sig: &SignatureEntry<'a>,
        st: &Statement,
        base: &Request,
        who: &str,
        r: &mut Report,
    ) {
        let p = &st.predicate;
        let mut differ = Vec::new();
        if p.actor != sig.actor {
            differ.push(format!(
                "actor {:?} (entry: {:?})",
                short(&p.actor),
                short(sig.actor)
            ));
        }
        if p.request != base.id {
            differ.push(format!(
                "request {:?} (expected {:?})",
                short(&p.request),
                short(&base.id)
            ));
        }
        if p.decision != sig.decision {
            differ.push(format!(
                "decision {} (entry: {})",
                p.decision.as_str(),
                sig.decision.as_str()
            ));
        }
        if p.key_id != sig.key_id {
            differ.push(format!(
                "keyId {:?} (entry: {:?})",
                short(&p.key_id),
                short(sig.key_id)
            ));
        }
        r.check(
            "signature.predicate",
            if differ.is_empty() {
                Ok(format!(
                    "{who}: the statement says {} {}s request {}{} with key {}",
                    short(&p.actor),
                    p.decision.as_str(),
                    short(&p.request),
                    p.principal
                        .as_deref()
                        .filter(|x| *x != p.actor)
                        .map(|x| format!(" for {}", short(x)))
                        .unwrap_or_default(),
                    short(&p.key_id)
                ))
            } else {
                Err(format!(
                    "{who}: the statement's predicate has {}",
                    differ.join("; ")
                ))
            },
        );

        let wanted: std::collections::BTreeSet<&str> =
            base.documents.iter().map(|d| d.sha256.as_str()).collect();
        let signed: std::collections::BTreeSet<&str> = st
            .subject
            .iter()
            .filter_map(|s| s.digest.get("sha256").map(String::as_str))
            .collect();
        r.check(
            "signature.subject",
            if wanted == signed && st.subject.len() == base.documents.len() {
                Ok(format!(
                    "{who}: the statement's {} subject digest{} are the request's documents",
                    signed.len(),
                    if signed.len() == 1 { "" } else { "s" }
                ))
            } else {
                let missing: Vec<&str> = wanted.difference(&signed).copied().collect();
                let extra: Vec<String> = signed.difference(&wanted).map(|d| short(d)).collect();
                Err(format!(
                    "{who}: the statement's {} subjects differ from the request's {} documents (missing: [{}], unexpected: [{}])",
                    st.subject.len(),
                    base.documents.len(),
                    missing.join(", "),
                    extra.join(", ")
                ))
            },
        );

        r.check(
            "signature.action",
            if p.action == base.action {
                Ok(match &base.action {
                    Some(a) => format!(
                        "{who}: the statement echoes the action {} {} {} on {}",
                        a.operation.as_str(),
                        short(&a.entitlement),
                        short(&a.subject),
                        short(&a.system)
                    ),
                    None => format!("{who}: neither the request nor the statement names an action"),
                })
            } else {
                Err(format!(
                    "{who}: the statement's echoed action {} differs from the request's {}",
                    describe_action(p.action.as_ref()),
                    describe_action(base.action.as_ref())
                ))
            },
        );
    }

    /// The view's signatures against the accepted entries, both ways.
    fn check_view_signatures(&self, accepted: &BTreeMap<u64, Accepted<'a>>, r: &mut Report) {
        let mut listed: HashSet<u64> = HashSet::new();
        for rec in &self.bundle.request.signatures {
            let i = rec.log_index;
            let by = format!(
                "signature by {} recorded at log index {i}",
                short(&rec.actor)
            );
            if !listed.insert(i) {
                r.fail(
                    "signature.recorded",
                    format!("{by} is listed twice in the request's signatures"),
                );
                continue;
            }
            let Some(a) = accepted.get(&i) else {
                let what = match self.entries.get(&i) {
                    Some(e) => format!(
                        " as a signature.accepted entry for this request (entry {i} is a {} entry)",
                        e.event.kind()
                    ),
                    None => String::new(),
                };
                r.fail(
                    "signature.recorded",
                    format!("{by} is not in the bundle{what}"),
                );
                continue;
            };
            let mut differ = Vec::new();
            if rec.actor != a.actor {
                differ.push(format!("actor (entry: {})", short(a.actor)));
            }
            if rec.principal.as_deref() != a.principal {
                differ.push(format!(
                    "principal (entry: {})",
                    a.principal.map_or("(none)".to_string(), short)
                ));
            }
            if rec.delegation.as_deref() != a.delegation {
                differ.push(format!(
                    "delegation (entry: {})",
                    a.delegation.map_or("(none)".to_string(), short)
                ));
            }
            if rec.exception.as_deref() != a.exception {
                differ.push(format!(
                    "exception (entry: {})",
                    a.exception.map_or("(none)".to_string(), short)
                ));
            }
            if rec.key_id != a.key_id {
                differ.push(format!("key_id (entry: {})", short(a.key_id)));
            }
            if rec.envelope_sha256 != a.envelope_sha256 {
                differ.push(format!(
                    "envelope_sha256 (entry: {})",
                    short(a.envelope_sha256)
                ));
            }
            if rec.decision != a.decision {
                differ.push(format!("decision (entry: {})", a.decision.as_str()));
            }
            if rec.accepted_at != a.at {
                differ.push(format!("accepted_at (entry: {})", ts(a.at)));
            }
            if let Some(st) = &a.statement {
                if rec.signed_at != st.predicate.signed_at {
                    differ.push(format!(
                        "signed_at (statement: {})",
                        ts(st.predicate.signed_at)
                    ));
                }
                if rec.reason != st.predicate.reason {
                    differ.push("reason".to_string());
                }
            }
            r.check(
                "signature.recorded",
                if differ.is_empty() {
                    Ok(format!("{by} matches the signature.accepted entry"))
                } else {
                    Err(format!(
                        "{by} differs from the entry in: {}",
                        differ.join(", ")
                    ))
                },
            );
        }
        let mut missing = false;
        for (n, a) in accepted {
            if !listed.contains(n) {
                missing = true;
                r.fail(
                    "signature.listed",
                    format!(
                        "the signature by {} accepted at entry {n} is missing from the request's signatures",
                        short(a.actor)
                    ),
                );
            }
        }
        if !missing {
            r.pass(
                "signature.listed",
                format!(
                    "all {} accepted signature{} in the log are listed in the request's signatures",
                    accepted.len(),
                    if accepted.len() == 1 { "" } else { "s" }
                ),
            );
        }
    }

    fn check_state(
        &self,
        base: &Request,
        decided: Option<&Decided>,
        implied: RequestState,
        r: &mut Report,
    ) {
        let view = &self.bundle.request;
        let by = decided
            .map(|d| format!(" (decided by entry {})", d.index))
            .unwrap_or_default();
        if view.state == implied {
            r.pass(
                "request.state",
                format!(
                    "the request is {}{by}, as its log entries imply",
                    implied.as_str()
                ),
            );
        } else if implied == RequestState::Pending
            && view.state == RequestState::Expired
            && base.expires_at <= self.bundle.exported_at
        {
            r.pass(
                "request.state",
                format!(
                    "the request is pending in the log and was past its expiry ({}) at export ({}), so it shows as expired",
                    ts(base.expires_at),
                    ts(self.bundle.exported_at)
                ),
            );
        } else {
            r.fail(
                "request.state",
                format!(
                    "the bundle says the request is {}, but its log entries make it {}{by}",
                    view.state.as_str(),
                    implied.as_str()
                ),
            );
        }
        match (decided, view.decided_at) {
            (Some(d), Some(at)) if d.at != at => r.warn(format!(
                "the request view says it was decided at {}, but entry {} recorded it at {}",
                ts(at),
                d.index,
                ts(d.at)
            )),
            (Some(d), None) if view.state == d.state => r.warn(format!(
                "the request view gives no decision time, but entry {} decided it at {}",
                d.index,
                ts(d.at)
            )),
            (None, Some(at)) => r.warn(format!(
                "the request view says it was decided at {}, but no entry in the bundle decides it",
                ts(at)
            )),
            _ => {}
        }
    }

    /// The auditor's files against the digests that were signed.
    fn check_files(&self, base: &Request, accepted: &BTreeMap<u64, Accepted<'a>>, r: &mut Report) {
        let mut signed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in accepted.values() {
            if let Some(st) = &a.statement {
                for s in &st.subject {
                    if let Some(d) = s.digest.get("sha256") {
                        let actors = signed.entry(d.as_str()).or_default();
                        if !actors.contains(&a.actor) {
                            actors.push(a.actor);
                        }
                    }
                }
            }
        }
        for (label, content) in &self.options.documents {
            let digest = hex::encode(Sha256::digest(content));
            let doc = base.documents.iter().find(|d| d.sha256 == digest);
            let name = doc.map(|d| format!("{} version {}", short(&d.document), d.version));
            match (signed.get(digest.as_str()), name) {
                (Some(actors), name) => r.pass(
                    "document.file",
                    format!(
                        "{} (sha256 {digest}) is {}, signed by {}",
                        short(label),
                        name.unwrap_or_else(|| "a signed subject".into()),
                        actors.iter().map(|a| short(a)).collect::<Vec<_>>().join(", ")
                    ),
                ),
                (None, Some(name)) => r.fail(
                    "document.file",
                    format!(
                        "{} (sha256 {digest}) is {name} of the request, but no accepted signature in the bundle covers it",
                        short(label)
                    ),
                ),
                (None, None) => r.fail(
                    "document.file",
                    format!(
                        "{} has sha256 {digest}, which matches no document signed in this bundle",
                        short(label)
                    ),
                ),
            }
        }
    }
}

/// One `signature.accepted` entry, borrowed.
struct SignatureEntry<'a> {
    index: u64,
    at: OffsetDateTime,
    actor: &'a str,
    principal: Option<&'a str>,
    delegation: Option<&'a str>,
    exception: Option<&'a str>,
    policy: Option<&'a PolicyDecision>,
    auth: Option<&'a AuthContext>,
    decision: Decision,
    key_id: &'a str,
    envelope_sha256: &'a str,
    envelope: &'a Envelope,
    request_state: RequestState,
    /// The signed statement was erased: the envelope cannot be re-checked.
    erased: bool,
}

fn check_close(
    e: &Entry,
    to: RequestState,
    base: &Request,
    decided: &mut Option<Decided>,
    r: &mut Report,
) {
    let n = e.index;
    let result = match (decided.as_ref(), to) {
        (Some(d), _) => Err(format!(
            "entry {n} closes the request as {} but it was already {} (entry {})",
            to.as_str(),
            d.state.as_str(),
            d.index
        )),
        (None, RequestState::Withdrawn) if e.at < base.expires_at => {
            Ok(format!("entry {n} withdraws the request at {}", ts(e.at)))
        }
        (None, RequestState::Withdrawn) => Err(format!(
            "entry {n} withdraws the request at {}, after it expired at {}",
            ts(e.at),
            ts(base.expires_at)
        )),
        (None, RequestState::Expired) if e.at >= base.expires_at => Ok(format!(
            "entry {n} records the request's expiry (due {})",
            ts(base.expires_at)
        )),
        (None, RequestState::Expired) => Err(format!(
            "entry {n} records the request as expired at {}, before its expiry {}",
            ts(e.at),
            ts(base.expires_at)
        )),
        (None, RequestState::Voided) => Ok(format!(
            "entry {n} voids the request: an approver left and nobody could take their place"
        )),
        (None, other) => Err(format!(
            "entry {n} closes the request as {}; only withdrawn, expired and voided are closings",
            other.as_str()
        )),
    };
    r.check("request.closed", result);
    if decided.is_none() {
        *decided = Some(Decided {
            index: n,
            at: e.at,
            state: to,
        });
    }
}

/// The request as it was created: no signatures, pending.
fn as_created(request: &Request) -> Request {
    let mut base = request.clone();
    base.signatures.clear();
    base.state = RequestState::Pending;
    base.decided_at = None;
    base
}

/// Apply one logged re-routing to a list of approvers.
fn reroute(approvers: &mut Vec<String>, removed: &str, added: Option<&str>) {
    match added {
        Some(a) => {
            for x in approvers.iter_mut() {
                if x == removed {
                    *x = a.to_string();
                }
            }
        }
        None => approvers.retain(|x| x != removed),
    }
}

/// Immutable fields on which the view differs from the creating entry.
fn differing_fields(
    view: &Request,
    created: &Request,
    index: u64,
    approvers_now: &[String],
) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut cmp = |name: &'static str, same: bool| {
        if !same {
            out.push(name);
        }
    };
    cmp("id", view.id == created.id);
    cmp("event_kind", view.event_kind == created.event_kind);
    cmp("purpose", view.purpose == created.purpose);
    cmp("impact", view.impact == created.impact);
    cmp("documents", view.documents == created.documents);
    cmp("action", view.action == created.action);
    cmp("requester", view.requester == created.requester);
    cmp("beneficiary", view.beneficiary == created.beneficiary);
    cmp("approvers", view.approvers == approvers_now);
    cmp("order", view.order == created.order);
    cmp("quorum", view.quorum == created.quorum);
    cmp("created_at", view.created_at == created.created_at);
    cmp("expires_at", view.expires_at == created.expires_at);
    cmp("log_index", view.log_index == index);
    out
}

/// Verify `leaf` against the CA of one `ca.created` entry at `at`.
fn chain_to(
    leaf: &[u8],
    ca: &CaEntry<'_>,
    at: OffsetDateTime,
) -> Result<x509::CertificateInfo, String> {
    let which = format!(
        "CA {} (ca.created entry {})",
        short(ca.fingerprint),
        ca.index
    );
    let der = x509::pem_to_der(ca.certificate)
        .map_err(|e| format!("{which}: the CA certificate is unreadable: {e}"))?;
    let actual = hex::encode(Sha256::digest(&der));
    if actual != ca.fingerprint {
        return Err(format!(
            "{which}: the entry's fingerprint is not its certificate's, which is {actual}"
        ));
    }
    x509::verify_chain(leaf, &der, at).map_err(|e| match e {
        X509Error::WrongIssuer { .. }
        | X509Error::BadSignature
        | X509Error::KeyIdMismatch { .. } => {
            format!("wrong CA: not issued by {which}: {e}")
        }
        X509Error::Expired {
            role, not_after, ..
        } => format!(
            "the {role} certificate expired at {}, before the signature at {} ({which})",
            ts(not_after),
            ts(at)
        ),
        X509Error::NotYetValid {
            role, not_before, ..
        } => format!(
            "the {role} certificate was not valid until {}, after the signature at {} ({which})",
            ts(not_before),
            ts(at)
        ),
        other => format!("{which}: {other}"),
    })
}

/// `allowed by P under policy set S` or `refused by policy P under S`.
fn describe_decision(d: &PolicyDecision) -> String {
    let ids = short(&d.policies.join(", "));
    match (d.effect, d.policies.is_empty()) {
        (Effect::Allow, false) => {
            format!("allowed by {ids} under policy set {}", short(&d.policy_set))
        }
        (Effect::Allow, true) => format!("allowed under policy set {}", short(&d.policy_set)),
        (Effect::Deny, false) => format!("refused by policy {ids} under {}", short(&d.policy_set)),
        (Effect::Deny, true) => format!("no policy permits it under {}", short(&d.policy_set)),
    }
}

/// A passkey's enrolment is self-consistent: its key id is the SHA-256 of
/// its credential id, and its public key is a usable COSE key.
fn passkey_enrolment(c: &Credential) -> Result<(), String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let p = c.passkey.as_ref().ok_or("it carries no passkey record")?;
    let id = URL_SAFE_NO_PAD
        .decode(p.credential_id.trim_end_matches('=').as_bytes())
        .map_err(|e| format!("its credential id is not base64url: {e}"))?;
    let kid = countersign_attest::keys::sha256_hex(&id);
    if kid != c.key_id {
        return Err(format!(
            "its key id should be {kid} (SHA-256 of the credential id), not {}",
            short(&c.key_id)
        ));
    }
    let cose = B64
        .decode(c.public_key.as_bytes())
        .map_err(|e| format!("its public key is not base64: {e}"))?;
    countersign_webauthn::CosePublicKey::from_cose(&cose)
        .map_err(|e| format!("its public key is not a usable COSE key: {e}"))?;
    Ok(())
}

/// A credential in words: `a passkey (synced, user verified, attestation
/// none)`, `a software key`, `a hardware key vouched for by admin`.
pub(crate) fn describe_credential(c: &Credential, passkey: Option<&PasskeyVerified>) -> String {
    match (c.kind, &c.passkey) {
        (CredentialKind::Passkey, Some(p)) => {
            let bound = if p.device_bound() {
                "device-bound"
            } else {
                "synced"
            };
            let uv = match passkey {
                Some(v) if v.user_verified => ", user verified",
                Some(_) => ", user NOT verified",
                None => "",
            };
            let att = if p.attestation.trusted {
                format!("{} attestation from a trusted root", p.attestation.format)
            } else {
                format!("attestation {} (not trusted)", p.attestation.format)
            };
            format!("a passkey ({bound}{uv}, {att})")
        }
        (CredentialKind::Passkey, None) => "a passkey".to_string(),
        (CredentialKind::Certificate, _) => "a workload certificate".to_string(),
        (CredentialKind::Key, _) => match (c.assurance, c.assurance_basis, &c.vouch) {
            (Assurance::Hardware, AssuranceBasis::Vouched, Some(v)) => {
                format!("a hardware key vouched for by {}", short(&v.by))
            }
            (Assurance::Hardware, _, _) => {
                "a key declared hardware (not vouched for, so counted as software)".to_string()
            }
            _ => "a software key".to_string(),
        },
    }
}

/// `AAL2, authenticated T via M`.
fn describe_auth(a: &AuthContext) -> String {
    let when = a
        .auth_time
        .map(|t| format!(", authenticated {}", ts(t)))
        .unwrap_or_default();
    format!("AAL{}{when} via {}", a.aal, short(&a.method))
}

fn describe_scope(d: &Delegation) -> String {
    let kinds = if d.scope.event_kinds.is_empty() {
        "every event kind".to_string()
    } else {
        d.scope
            .event_kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let requests = if d.scope.requests.is_empty() {
        String::new()
    } else {
        format!(", requests {}", short(&d.scope.requests.join(", ")))
    };
    format!(
        "{kinds} up to {} impact{requests}",
        d.scope.max_impact.as_str()
    )
}

fn describe_action(a: Option<&countersign_proto::model::EntitlementAction>) -> String {
    match a {
        None => "(none)".to_string(),
        Some(a) => format!(
            "{} {} {} on {}",
            a.operation.as_str(),
            short(&a.entitlement),
            short(&a.subject),
            short(&a.system)
        ),
    }
}
