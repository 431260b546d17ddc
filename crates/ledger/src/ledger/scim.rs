//! SCIM writes: users and groups pushed by an identity provider, mapped to
//! identities in the same transaction that stores the SCIM resource.
//!
//! The server does the SCIM work (validating, patching, filtering the JSON)
//! and hands the ledger the resource together with the few attributes that
//! matter to Countersign. The ledger owns `id` and `meta.created`/
//! `meta.lastModified`, keeps the resource's version (the ETag), refuses a
//! write made against an older version, and records what changed for the
//! identity in the log (the resource JSON itself stays out of the log: it
//! may hold personal data that an append-only log must not keep).
//!
//! Mapping: a SCIM user is a human identity. Its handle is derived from
//! `userName` once and never changes; an existing identity with the same
//! email and no SCIM user is adopted instead of duplicated. `active: false`
//! suspends or terminates it (the operator chooses), at the time the push
//! arrives, with every lifecycle consequence. Deleting a user terminates its
//! identity. Group membership becomes the identity's `groups`, named by the
//! group's display name made into a label (`Finance Approvers` →
//! `finance-approvers`).

use countersign_domain::identity;
use countersign_proto::api::{CreateIdentity, UpdateIdentity};
use countersign_proto::entry::Event;
use countersign_proto::iga::Group;
use countersign_proto::model::{Identity, IdentityKind, IdentityStatus};
use countersign_proto::ErrorCode;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{new_id, Ledger, LedgerError, Result, Write};
use crate::ScimRecord;

pub const USER: &str = "User";
pub const GROUP: &str = "Group";

/// What Countersign takes from a SCIM user.
#[derive(Clone, Debug)]
pub struct ScimUser {
    /// The prepared resource (validated, read-only attributes dropped).
    pub resource: Value,
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    /// The manager's SCIM id.
    pub manager: Option<String>,
}

/// What Countersign takes from a SCIM group.
#[derive(Clone, Debug)]
pub struct ScimGroup {
    pub resource: Value,
    pub display_name: String,
    pub external_id: Option<String>,
    /// Member SCIM user ids.
    pub members: Vec<String>,
}

/// A group's display name as an identity group label.
pub fn group_label(display_name: &str) -> String {
    let mut out = String::new();
    for c in display_name.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.').to_string();
    let mut out: String = out.chars().take(128).collect();
    if out.is_empty() {
        out = "group".into();
    }
    out
}

/// A handle made from a SCIM userName. Handles are in the log in the
/// clear (the proofs name people by them), so a userName that is an e-mail
/// address (as Entra ID's UPNs and most Okta logins are) gives its local
/// part only: the address itself is personal data and goes in the
/// committed `email` field. A clash with an existing handle gets a suffix.
fn handle_from(user_name: &str) -> String {
    let local = match user_name.trim().split_once('@') {
        Some((local, _)) if !local.trim().is_empty() => local,
        _ => user_name,
    };
    let mut h = group_label(local);
    h.truncate(120);
    h
}

fn not_found(rt: &str, id: &str) -> LedgerError {
    LedgerError::refused(
        ErrorCode::ScimResourceNotFound,
        format!("no {rt} with id {id:?}"),
    )
}

fn check_version(record: &ScimRecord, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(v) if v != record.version => Err(LedgerError::refused(
            ErrorCode::PreconditionFailed,
            format!(
                "{} {} is at version {}, not {v}",
                record.resource_type, record.id, record.version
            ),
        )),
        _ => Ok(()),
    }
}

fn stamp(resource: &mut Value, rt: &str, id: &str, created: &str, now: OffsetDateTime) {
    if let Value::Object(m) = resource {
        m.insert("id".into(), Value::String(id.to_string()));
        let modified = now.format(&Rfc3339).unwrap_or_default();
        m.insert(
            "meta".into(),
            json!({ "resourceType": rt, "created": created, "lastModified": modified }),
        );
    }
}

fn created_of(record: &ScimRecord) -> String {
    record
        .resource
        .pointer("/meta/created")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Ledger {
    /// Provision a user (SCIM POST).
    pub fn scim_create_user(&self, user: ScimUser, now: OffsetDateTime) -> Result<ScimRecord> {
        let mut tx = self.begin(now)?;
        self.unique_user_name(&*tx, &user.user_name, None)?;
        let manager = self.manager_handle(&*tx, user.manager.as_deref())?;
        // SCIM never adopts an identity made outside SCIM on its own: only
        // one an administrator marked adoptable (`scim_adoptable`), and
        // only by its e-mail; any other live holder of the address is a
        // uniqueness conflict.
        let adopted = match &user.email {
            Some(e) => super::identity_for_email(&*tx, e)?
                .filter(|i| i.status != IdentityStatus::Terminated),
            None => None,
        };
        let adopted = match adopted {
            None => None,
            Some(i) if i.kind.is_human() && i.scim_adoptable && tx.scim_user_of(&i.handle)?.is_none() => {
                Some(i)
            }
            Some(i) => {
                return Err(LedgerError::refused(
                    ErrorCode::ScimUniqueness,
                    format!(
                        "identity {} already has this e-mail; SCIM adopts an identity only after an administrator allows it (`countersign identity allow-scim {}`)",
                        i.handle, i.handle
                    ),
                ))
            }
        };
        let joiner = adopted.is_none();
        let identity = match adopted {
            Some(current) => {
                let patch = UpdateIdentity {
                    display_name: user.display_name.clone(),
                    manager: Some(manager.clone().unwrap_or_default()),
                    ..UpdateIdentity::default()
                };
                let (mut next, mut changed) =
                    identity::update_identity(&current, &patch, None, now)?;
                next.scim_adoptable = false;
                changed.push("scim_adoptable".into());
                let index = tx.next_index()?;
                tx.put_identity(&next, Some("adopted over SCIM"), index)?;
                tx.log(Event::IdentityUpdated {
                    identity: next.clone(),
                    changed,
                })?;
                next
            }
            None => {
                let mut handle = handle_from(&user.user_name);
                let base = handle.clone();
                let mut n = 1;
                while tx.identity_any_case(&handle)?.is_some() {
                    n += 1;
                    handle = format!("{base}-{n}");
                }
                let input = CreateIdentity {
                    handle,
                    kind: IdentityKind::Human,
                    display_name: user.display_name.clone(),
                    email: user.email.clone(),
                    owner: None,
                    shared: false,
                    groups: Vec::new(),
                    roles: Vec::new(),
                    manager,
                };
                let identity = identity::create_identity(&input, new_id("idn"), None, None, now)?;
                let index = tx.next_index()?;
                tx.put_identity(&identity, Some("provisioned over SCIM"), index)?;
                tx.log(Event::IdentityCreated {
                    identity: identity.clone(),
                })?;
                identity
            }
        };
        let identity = self.apply_active(&mut tx, identity, user.active)?;
        if joiner && identity.status == IdentityStatus::Active {
            // A joiner gets an enrolment link by mail for their first passkey.
            let index = tx.next_index()?;
            if let Some(e) = self.invite_joiner(&mut *tx, &identity, index, now)? {
                tx.log(e)?;
            }
        }
        let mut resource = user.resource;
        let created = now.format(&Rfc3339).unwrap_or_default();
        stamp(&mut resource, USER, &identity.id, &created, now);
        let record = ScimRecord {
            resource_type: USER.into(),
            id: identity.id.clone(),
            identity: Some(identity.handle.clone()),
            version: 1,
            resource,
        };
        tx.put_scim_resource(&record)?;
        tx.commit()?;
        Ok(record)
    }

    /// Replace a user (SCIM PUT, and PATCH after the server applied it).
    pub fn scim_replace_user(
        &self,
        id: &str,
        expected_version: Option<u64>,
        user: ScimUser,
        now: OffsetDateTime,
    ) -> Result<ScimRecord> {
        let mut tx = self.begin(now)?;
        let current = tx
            .scim_resource(USER, id)?
            .ok_or_else(|| not_found(USER, id))?;
        check_version(&current, expected_version)?;
        self.unique_user_name(&*tx, &user.user_name, Some(id))?;
        let handle = current
            .identity
            .clone()
            .ok_or_else(|| LedgerError::Integrity(format!("SCIM user {id} has no identity")))?;
        let identity = Self::load_identity(&*tx, &handle)?;
        let manager = self.manager_handle(&*tx, user.manager.as_deref())?;
        let identity = if identity.status == IdentityStatus::Terminated {
            if user.active {
                return Err(LedgerError::refused(
                    ErrorCode::IdentityTerminated,
                    format!("{handle} is terminated; termination is final and cannot be undone by setting active"),
                ));
            }
            identity
        } else {
            let patch = UpdateIdentity {
                display_name: user.display_name.clone(),
                email: user.email.clone(),
                manager: Some(manager.unwrap_or_default()),
                ..UpdateIdentity::default()
            };
            if user.email.is_some() && user.email != identity.email {
                super::email_free(&*tx, user.email.as_deref(), Some(&identity.handle))?;
            }
            let identity = Self::update_in(&mut tx, &identity, &patch)?;
            self.apply_active(&mut tx, identity, user.active)?
        };
        let mut resource = user.resource;
        stamp(&mut resource, USER, id, &created_of(&current), now);
        let changed = resource != current.resource;
        let record = ScimRecord {
            version: current.version + u64::from(changed),
            resource: if changed { resource } else { current.resource },
            identity: Some(identity.handle),
            ..current
        };
        if !changed && !tx.logged_any() {
            return Ok(record);
        }
        tx.put_scim_resource(&record)?;
        tx.commit()?;
        Ok(record)
    }

    /// Deprovision a user (SCIM DELETE): the identity is terminated, the
    /// resource is gone, and the groups no longer list it.
    pub fn scim_delete_user(
        &self,
        id: &str,
        expected_version: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin(now)?;
        let current = tx
            .scim_resource(USER, id)?
            .ok_or_else(|| not_found(USER, id))?;
        check_version(&current, expected_version)?;
        if let Some(handle) = &current.identity {
            let identity = Self::load_identity(&*tx, handle)?;
            if identity.status != IdentityStatus::Terminated {
                let next = identity::change_status(&identity, IdentityStatus::Terminated, now)?;
                self.change_status_in(
                    &mut tx,
                    &identity,
                    next,
                    Some("deprovisioned over SCIM (user deleted)".into()),
                )?;
            }
        }
        for mut g in tx.scim_resources(GROUP)? {
            let before = g.resource.clone();
            if let Some(Value::Array(members)) = g.resource.get_mut("members") {
                members.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
            }
            if g.resource != before {
                g.version += 1;
                tx.put_scim_resource(&g)?;
                let group = self.group_record(&*tx, &g)?;
                tx.log(Event::GroupChanged {
                    group,
                    action: "updated".into(),
                })?;
            }
        }
        tx.delete_scim_resource(USER, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Create a group (SCIM POST).
    pub fn scim_create_group(&self, group: ScimGroup, now: OffsetDateTime) -> Result<ScimRecord> {
        let mut tx = self.begin(now)?;
        self.unique_group_name(&*tx, &group.display_name, None)?;
        let id = new_id("grp");
        let mut resource = group.resource;
        let created = now.format(&Rfc3339).unwrap_or_default();
        stamp(&mut resource, GROUP, &id, &created, now);
        let record = ScimRecord {
            resource_type: GROUP.into(),
            id,
            identity: None,
            version: 1,
            resource,
        };
        let label = group_label(&group.display_name);
        Self::regroup(&mut tx, None, Some(&label), &[], &group.members)?;
        tx.put_scim_resource(&record)?;
        let logged = self.group_record(&*tx, &record)?;
        tx.log(Event::GroupChanged {
            group: logged,
            action: "created".into(),
        })?;
        tx.commit()?;
        Ok(record)
    }

    /// Replace a group (SCIM PUT, and PATCH after the server applied it).
    pub fn scim_replace_group(
        &self,
        id: &str,
        expected_version: Option<u64>,
        group: ScimGroup,
        now: OffsetDateTime,
    ) -> Result<ScimRecord> {
        let mut tx = self.begin(now)?;
        let current = tx
            .scim_resource(GROUP, id)?
            .ok_or_else(|| not_found(GROUP, id))?;
        check_version(&current, expected_version)?;
        self.unique_group_name(&*tx, &group.display_name, Some(id))?;
        let old_members = members_of(&current.resource);
        let old_label = current
            .resource
            .get("displayName")
            .and_then(Value::as_str)
            .map(group_label);
        let new_label = group_label(&group.display_name);
        let mut resource = group.resource;
        stamp(&mut resource, GROUP, id, &created_of(&current), now);
        if resource == current.resource {
            return Ok(current);
        }
        Self::regroup(
            &mut tx,
            old_label.as_deref(),
            Some(&new_label),
            &old_members,
            &group.members,
        )?;
        let record = ScimRecord {
            version: current.version + 1,
            resource,
            ..current
        };
        tx.put_scim_resource(&record)?;
        let logged = self.group_record(&*tx, &record)?;
        tx.log(Event::GroupChanged {
            group: logged,
            action: "updated".into(),
        })?;
        tx.commit()?;
        Ok(record)
    }

    /// Delete a group: its members leave it.
    pub fn scim_delete_group(
        &self,
        id: &str,
        expected_version: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin(now)?;
        let current = tx
            .scim_resource(GROUP, id)?
            .ok_or_else(|| not_found(GROUP, id))?;
        check_version(&current, expected_version)?;
        let old_label = current
            .resource
            .get("displayName")
            .and_then(Value::as_str)
            .map(group_label);
        Self::regroup(
            &mut tx,
            old_label.as_deref(),
            None,
            &members_of(&current.resource),
            &[],
        )?;
        let logged = self.group_record(&*tx, &current)?;
        tx.delete_scim_resource(GROUP, id)?;
        tx.log(Event::GroupChanged {
            group: logged,
            action: "deleted".into(),
        })?;
        tx.commit()?;
        Ok(())
    }

    pub fn scim_resource(&self, rt: &str, id: &str) -> Result<ScimRecord> {
        self.store
            .read()?
            .scim_resource(rt, id)?
            .ok_or_else(|| not_found(rt, id))
    }

    pub fn scim_resources(&self, rt: &str) -> Result<Vec<ScimRecord>> {
        Ok(self.store.read()?.scim_resources(rt)?)
    }

    // ----------------------------------------------------------- helpers

    /// Refuse when another resource of type `rt` (than `except`) already
    /// has an `attribute` that `same` says equals the new one.
    fn unique(
        &self,
        tx: &dyn crate::ReadTx,
        rt: &str,
        attribute: &str,
        value: &str,
        same: impl Fn(&str) -> bool,
        except: Option<&str>,
    ) -> Result<()> {
        for r in tx.scim_resources(rt)? {
            let taken = r
                .resource
                .get(attribute)
                .and_then(Value::as_str)
                .is_some_and(&same);
            if taken && Some(r.id.as_str()) != except {
                return Err(LedgerError::refused(
                    ErrorCode::ScimUniqueness,
                    format!("{attribute} {value:?} is taken by {rt} {}", r.id),
                ));
            }
        }
        Ok(())
    }

    /// userNames are unique, compared case-insensitively.
    fn unique_user_name(
        &self,
        tx: &dyn crate::ReadTx,
        user_name: &str,
        except: Option<&str>,
    ) -> Result<()> {
        let same = |u: &str| u.eq_ignore_ascii_case(user_name);
        self.unique(tx, USER, "userName", user_name, same, except)
    }

    /// Group names are unique as the labels identities carry.
    fn unique_group_name(
        &self,
        tx: &dyn crate::ReadTx,
        display_name: &str,
        except: Option<&str>,
    ) -> Result<()> {
        let label = group_label(display_name);
        let same = |d: &str| group_label(d) == label;
        self.unique(tx, GROUP, "displayName", display_name, same, except)
    }

    /// The handle of the identity behind a manager's SCIM id (a manager not
    /// provisioned yet is left out).
    fn manager_handle(
        &self,
        tx: &dyn crate::ReadTx,
        scim_id: Option<&str>,
    ) -> Result<Option<String>> {
        Ok(match scim_id {
            Some(id) => tx.scim_resource(USER, id)?.and_then(|r| r.identity),
            None => None,
        })
    }

    fn update_in(
        tx: &mut Write<'_>,
        current: &Identity,
        patch: &UpdateIdentity,
    ) -> Result<Identity> {
        let (next, changed) = identity::update_identity(current, patch, None, tx.now())?;
        if changed.is_empty() {
            return Ok(next);
        }
        let index = tx.next_index()?;
        tx.put_identity(&next, Some("updated over SCIM"), index)?;
        tx.log(Event::IdentityUpdated {
            identity: next.clone(),
            changed,
        })?;
        Ok(next)
    }

    /// Make the identity's status follow `active`.
    fn apply_active(
        &self,
        tx: &mut Write<'_>,
        identity: Identity,
        active: bool,
    ) -> Result<Identity> {
        let now = tx.now();
        let to = match (identity.status, active) {
            (IdentityStatus::Active, false) => self.config.iga.scim_deactivate,
            (IdentityStatus::Suspended, true) => IdentityStatus::Active,
            (IdentityStatus::Suspended, false)
                if self.config.iga.scim_deactivate == IdentityStatus::Terminated =>
            {
                IdentityStatus::Terminated
            }
            _ => return Ok(identity),
        };
        let next = identity::change_status(&identity, to, now)?;
        let reason = if active {
            "reactivated over SCIM (active: true)"
        } else {
            "deactivated over SCIM (active: false)"
        };
        self.change_status_in(tx, &identity, next, Some(reason.into()))
    }

    /// Move identities in and out of a group label: members of `old`
    /// (listed in `before`) leave it, members of `new` (listed in `after`)
    /// join it. Unknown member ids are refused.
    fn regroup(
        tx: &mut Write<'_>,
        old: Option<&str>,
        new: Option<&str>,
        before: &[String],
        after: &[String],
    ) -> Result<()> {
        let mut handles_after = Vec::new();
        for id in after {
            let user = tx.scim_resource(USER, id)?.ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::InvalidField,
                    format!(
                        "member {id:?} is not a provisioned user (nested groups are not supported)"
                    ),
                )
            })?;
            if let Some(h) = user.identity {
                handles_after.push(h);
            }
        }
        let mut handles_before = Vec::new();
        for id in before {
            if let Some(h) = tx.scim_resource(USER, id)?.and_then(|u| u.identity) {
                handles_before.push(h);
            }
        }
        let mut touched: Vec<String> = handles_before.clone();
        touched.extend(handles_after.iter().cloned());
        touched.sort();
        touched.dedup();
        for h in touched {
            let current = Self::load_identity(&**tx, &h)?;
            if current.status == IdentityStatus::Terminated {
                continue;
            }
            let mut groups = current.groups.clone();
            if let Some(o) = old {
                if handles_before.contains(&h) {
                    groups.retain(|g| g != o);
                }
            }
            if let Some(n) = new {
                if handles_after.contains(&h) && !groups.iter().any(|g| g == n) {
                    groups.push(n.to_string());
                }
            }
            let patch = UpdateIdentity {
                groups: Some(groups),
                ..UpdateIdentity::default()
            };
            Self::update_in(tx, &current, &patch)?;
        }
        Ok(())
    }

    /// A group as the log records it: member handles, not SCIM ids.
    fn group_record(&self, tx: &dyn crate::ReadTx, record: &ScimRecord) -> Result<Group> {
        let mut members = Vec::new();
        for id in members_of(&record.resource) {
            if let Some(h) = tx.scim_resource(USER, &id)?.and_then(|u| u.identity) {
                members.push(h);
            }
        }
        Ok(Group {
            id: record.id.clone(),
            display_name: record
                .resource
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            external_id: record
                .resource
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_string),
            members,
        })
    }
}

fn members_of(resource: &Value) -> Vec<String> {
    resource
        .get("members")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|v| v.get("value").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
