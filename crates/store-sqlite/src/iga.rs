//! SQL for the IAM/IGA records: SCIM resources, entitlement changes,
//! control exceptions, webhook endpoints, the outbox and its deliveries.
//! The trait methods in `lib.rs` delegate here.

use countersign_proto::iga::{
    ChangeFilter, ControlException, ControlFilter, ControlKind, DeliveryAttempt, DeliveryFilter,
    DeliveryRecord, DeliveryState, EntitlementChange,
};
use countersign_store::{DueDelivery, OutboxEvent, Result, ScimRecord, StoreError, WebhookRecord};
use rusqlite::{params, OptionalExtension as _};
use time::OffsetDateTime;

use crate::{backend, from_json, key_i64, to_i64, to_json, to_u64, unix_millis, SqliteTx};

impl SqliteTx<'_> {
    pub(crate) fn scim_resource_(&self, rt: &str, id: &str) -> Result<Option<ScimRecord>> {
        Ok(self
            .scim_where("resource_type = ?1 AND id = ?2", &[&rt, &id])?
            .pop())
    }

    /// The SCIM resources matching `sql_where` (over `params`), in the order written.
    pub(crate) fn scim_where(
        &self,
        sql_where: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<ScimRecord>> {
        let sql = format!(
            "SELECT resource_type, id, identity, version, body FROM scim_resources WHERE {sql_where} ORDER BY rowid"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(scim_row(row.map_err(backend)?)?);
        }
        Ok(out)
    }

    pub(crate) fn change_by_source_(
        &self,
        system: &str,
        source_event_id: &str,
    ) -> Result<Option<EntitlementChange>> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM entitlement_changes WHERE system = ?1 AND source_event_id = ?2",
                [system, source_event_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        body.map(|b| from_json("change", &b)).transpose()
    }

    pub(crate) fn changes_(&self, f: &ChangeFilter) -> Result<Vec<EntitlementChange>> {
        self.many(
            "change",
            "SELECT body FROM entitlement_changes WHERE (?1 IS NULL OR system = ?1)
               AND (?2 IS NULL OR subject = ?2) AND (?3 IS NULL OR request = ?3)
             ORDER BY log_index",
            &[&f.system, &f.subject, &f.request],
        )
    }

    pub(crate) fn control_exception_by_key_(
        &self,
        kind: ControlKind,
        key: &str,
    ) -> Result<Option<ControlException>> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM control_exceptions WHERE kind = ?1 AND key = ?2",
                [kind.as_str(), key],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        body.map(|b| from_json("control exception", &b)).transpose()
    }

    pub(crate) fn control_exceptions_(&self, f: &ControlFilter) -> Result<Vec<ControlException>> {
        let kind = f.kind.map(|k| k.as_str());
        let state = f.state.map(|s| s.as_str());
        let severity = f.severity.map(|s| s.as_str());
        self.many(
            "control exception",
            "SELECT body FROM control_exceptions WHERE (?1 IS NULL OR kind = ?1)
               AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR severity = ?3)
               AND (?4 IS NULL OR subject = ?4) AND (?5 IS NULL OR system = ?5)
               AND (?6 IS NULL OR assignee = ?6) AND (?7 IS NULL OR request = ?7)
             ORDER BY rowid",
            &[
                &kind,
                &state,
                &severity,
                &f.subject,
                &f.system,
                &f.assignee,
                &f.request,
            ],
        )
    }

    pub(crate) fn deliveries_(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
        let state = f.state.map(|s| s.as_str());
        let limit = i64::from(f.limit.unwrap_or(100).clamp(1, 1000));
        self.many(
            "delivery",
            "SELECT body FROM deliveries WHERE (?1 IS NULL OR endpoint = ?1)
               AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3",
            &[&f.endpoint, &state, &limit],
        )
    }

    pub(crate) fn delivery_attempts_(&self, delivery: u64) -> Result<Vec<DeliveryAttempt>> {
        self.many(
            "delivery attempt",
            "SELECT body FROM delivery_attempts WHERE delivery = ?1 ORDER BY attempt",
            &[&key_i64(delivery)],
        )
    }

    pub(crate) fn due_deliveries_(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.body, w.body, o.body FROM deliveries d
                   JOIN webhooks w ON w.id = d.endpoint
                   JOIN outbox o ON o.id = d.event_id
                 WHERE d.state = 'pending' AND d.due <= ?1
                   AND json_extract(w.body, '$.endpoint.enabled')
                   AND NOT EXISTS (SELECT 1 FROM deliveries e
                       WHERE e.endpoint = d.endpoint AND e.ordering_key = d.ordering_key
                         AND e.state = 'pending' AND e.id < d.id)
                 ORDER BY d.id LIMIT ?2",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![unix_millis(now), i64::from(limit)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (d, w, body) = row.map_err(backend)?;
            let webhook: WebhookRecord = from_json("webhook", &w)?;
            out.push(DueDelivery {
                delivery: from_json("delivery", &d)?,
                url: webhook.endpoint.url,
                secrets: webhook.secrets,
                body,
            });
        }
        Ok(out)
    }

    pub(crate) fn outbox_event_(&self, id: &str) -> Result<Option<OutboxEvent>> {
        self.conn
            .query_row(
                "SELECT id, event_type, ordering_key, created_at, body FROM outbox WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(backend)?
            .map(|(id, event_type, ordering_key, at, body)| {
                let created_at =
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
                        .map_err(|e| StoreError::Corrupt(format!("outbox time: {e}")))?;
                Ok(OutboxEvent {
                    id,
                    event_type,
                    ordering_key,
                    body,
                    created_at,
                })
            })
            .transpose()
    }

    pub(crate) fn put_scim_resource_(&mut self, r: &ScimRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO scim_resources (resource_type, id, identity, version, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (resource_type, id) DO UPDATE SET identity = excluded.identity,
                   version = excluded.version, body = excluded.body",
                params![
                    r.resource_type,
                    r.id,
                    r.identity,
                    to_i64(r.version)?,
                    to_json(&r.resource)?
                ],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn delete_scim_resource_(&mut self, rt: &str, id: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM scim_resources WHERE resource_type = ?1 AND id = ?2",
                [rt, id],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_change_(&mut self, c: &EntitlementChange) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO entitlement_changes (id, system, subject, source_event_id, request, log_index, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET request = excluded.request, body = excluded.body",
                params![
                    c.id,
                    c.change.system,
                    c.change.subject,
                    c.change.source_event_id,
                    c.request,
                    to_i64(c.log_index)?,
                    to_json(c)?
                ],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_control_exception_(&mut self, e: &ControlException) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO control_exceptions (id, kind, key, state, severity, subject, system, assignee, request, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, severity = excluded.severity,
                   assignee = excluded.assignee, body = excluded.body",
                params![
                    e.id,
                    e.kind.as_str(),
                    e.key,
                    e.state.as_str(),
                    e.severity.as_str(),
                    e.subject,
                    e.system,
                    e.assignee,
                    e.request,
                    to_json(e)?
                ],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_webhook_(&mut self, w: &WebhookRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO webhooks (id, body) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![w.endpoint.id, to_json(w)?],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_outbox_event_(&mut self, e: &OutboxEvent) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO outbox (id, event_type, ordering_key, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.id, e.event_type, e.ordering_key, unix_millis(e.created_at), e.body],
            )
            .map(drop)
            .map_err(backend)
    }

    pub(crate) fn put_delivery_(&mut self, d: &DeliveryRecord) -> Result<u64> {
        let due = match d.state {
            DeliveryState::Pending => d.next_attempt_at.map(unix_millis),
            _ => None,
        };
        if d.id == 0 {
            self.conn
                .execute(
                    "INSERT INTO deliveries (endpoint, event_id, ordering_key, state, due, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, '{}')",
                    params![
                        d.endpoint,
                        d.event_id,
                        d.ordering_key,
                        d.state.as_str(),
                        due
                    ],
                )
                .map_err(backend)?;
            let id = to_u64(self.conn.last_insert_rowid())?;
            let mut stored = d.clone();
            stored.id = id;
            self.conn
                .execute(
                    "UPDATE deliveries SET body = ?2 WHERE id = ?1",
                    params![to_i64(id)?, to_json(&stored)?],
                )
                .map_err(backend)?;
            return Ok(id);
        }
        let n = self
            .conn
            .execute(
                "UPDATE deliveries SET state = ?2, due = ?3, body = ?4 WHERE id = ?1",
                params![to_i64(d.id)?, d.state.as_str(), due, to_json(d)?],
            )
            .map_err(backend)?;
        if n == 0 {
            return Err(StoreError::Backend(format!("no delivery {}", d.id)));
        }
        Ok(d.id)
    }

    pub(crate) fn add_delivery_attempt_(&mut self, a: &DeliveryAttempt) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO delivery_attempts (delivery, attempt, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (delivery, attempt) DO UPDATE SET body = excluded.body",
                params![to_i64(a.delivery)?, a.attempt, to_json(a)?],
            )
            .map(drop)
            .map_err(backend)
    }
}

fn scim_row(
    (resource_type, id, identity, version, body): (String, String, Option<String>, i64, String),
) -> Result<ScimRecord> {
    Ok(ScimRecord {
        resource_type,
        id,
        identity,
        version: to_u64(version)?,
        resource: from_json("scim resource", &body)?,
    })
}
