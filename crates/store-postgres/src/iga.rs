//! SQL for the IAM/IGA records: SCIM resources, entitlement changes,
//! control exceptions, webhook endpoints, the outbox and its deliveries.
//! The trait methods in `lib.rs` delegate here.

use countersign_proto::iga::{
    ChangeFilter, ControlException, ControlFilter, ControlKind, DeliveryAttempt, DeliveryFilter,
    DeliveryRecord, DeliveryState, EntitlementChange,
};
use countersign_store::{DueDelivery, OutboxEvent, Result, ScimRecord, StoreError, WebhookRecord};
use time::OffsetDateTime;

use crate::{col, from_json, key_i64, to_i64, to_json, to_u64, unix_millis, Params, PgTx};

impl PgTx<'_> {
    pub(crate) fn scim_resource_(&self, rt: &str, id: &str) -> Result<Option<ScimRecord>> {
        Ok(self
            .scim_where("resource_type = $1 AND id = $2", &[&rt, &id])?
            .pop())
    }

    /// The SCIM resources matching `sql_where` (over `params`), in the order written.
    pub(crate) fn scim_where(
        &self,
        sql_where: &str,
        params: &Params<'_>,
    ) -> Result<Vec<ScimRecord>> {
        let sql = format!(
            "SELECT resource_type, id, identity, version, body FROM scim_resources WHERE {sql_where} ORDER BY seq"
        );
        self.query(&sql, params)?
            .iter()
            .map(|r| {
                Ok(ScimRecord {
                    resource_type: col(r, 0)?,
                    id: col(r, 1)?,
                    identity: col(r, 2)?,
                    version: to_u64(col(r, 3)?)?,
                    resource: from_json("scim resource", &col::<String>(r, 4)?)?,
                })
            })
            .collect()
    }

    pub(crate) fn change_by_source_(
        &self,
        system: &str,
        source_event_id: &str,
    ) -> Result<Option<EntitlementChange>> {
        self.query_first(
            "SELECT body FROM entitlement_changes WHERE system = $1 AND source_event_id = $2",
            &[&system, &source_event_id],
        )?
        .map(|r| from_json("change", &col::<String>(&r, 0)?))
        .transpose()
    }

    pub(crate) fn changes_(&self, f: &ChangeFilter) -> Result<Vec<EntitlementChange>> {
        self.many(
            "change",
            "SELECT body FROM entitlement_changes WHERE ($1::text IS NULL OR system = $1)
               AND ($2::text IS NULL OR subject = $2) AND ($3::text IS NULL OR request = $3)
             ORDER BY log_index",
            &[&f.system, &f.subject, &f.request],
        )
    }

    pub(crate) fn control_exception_by_key_(
        &self,
        kind: ControlKind,
        key: &str,
    ) -> Result<Option<ControlException>> {
        self.query_first(
            "SELECT body FROM control_exceptions WHERE kind = $1 AND key = $2",
            &[&kind.as_str(), &key],
        )?
        .map(|r| from_json("control exception", &col::<String>(&r, 0)?))
        .transpose()
    }

    pub(crate) fn control_exceptions_(&self, f: &ControlFilter) -> Result<Vec<ControlException>> {
        let kind = f.kind.map(|k| k.as_str());
        let state = f.state.map(|s| s.as_str());
        let severity = f.severity.map(|s| s.as_str());
        self.many(
            "control exception",
            "SELECT body FROM control_exceptions WHERE ($1::text IS NULL OR kind = $1)
               AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR severity = $3)
               AND ($4::text IS NULL OR subject = $4) AND ($5::text IS NULL OR system = $5)
               AND ($6::text IS NULL OR assignee = $6) AND ($7::text IS NULL OR request = $7)
             ORDER BY seq",
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
            "SELECT body FROM deliveries WHERE ($1::text IS NULL OR endpoint = $1)
               AND ($2::text IS NULL OR state = $2) ORDER BY id DESC LIMIT $3",
            &[&f.endpoint, &state, &limit],
        )
    }

    pub(crate) fn delivery_attempts_(&self, delivery: u64) -> Result<Vec<DeliveryAttempt>> {
        self.many(
            "delivery attempt",
            "SELECT body FROM delivery_attempts WHERE delivery = $1 ORDER BY attempt",
            &[&key_i64(delivery)],
        )
    }

    pub(crate) fn due_deliveries_(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        self.query(
            "SELECT d.body, w.body, o.body FROM deliveries d
               JOIN webhooks w ON w.id = d.endpoint
               JOIN outbox o ON o.id = d.event_id
             WHERE d.state = 'pending' AND d.due <= $1
               AND w.enabled
               AND NOT EXISTS (SELECT 1 FROM deliveries e
                   WHERE e.endpoint = d.endpoint AND e.ordering_key = d.ordering_key
                     AND e.state = 'pending' AND e.id < d.id)
             ORDER BY d.id LIMIT $2",
            &[&unix_millis(now), &i64::from(limit)],
        )?
        .iter()
        .map(|r| {
            let webhook: WebhookRecord = from_json("webhook", &col::<String>(r, 1)?)?;
            Ok(DueDelivery {
                delivery: from_json("delivery", &col::<String>(r, 0)?)?,
                url: webhook.endpoint.url,
                secrets: webhook.secrets,
                body: col(r, 2)?,
            })
        })
        .collect()
    }

    pub(crate) fn outbox_event_(&self, id: &str) -> Result<Option<OutboxEvent>> {
        self.query_first(
            "SELECT id, event_type, ordering_key, created_at, body FROM outbox WHERE id = $1",
            &[&id],
        )?
        .map(|r| {
            let at: i64 = col(&r, 3)?;
            let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
                .map_err(|e| StoreError::Corrupt(format!("outbox time: {e}")))?;
            Ok(OutboxEvent {
                id: col(&r, 0)?,
                event_type: col(&r, 1)?,
                ordering_key: col(&r, 2)?,
                body: col(&r, 4)?,
                created_at,
            })
        })
        .transpose()
    }

    pub(crate) fn put_scim_resource_(&mut self, r: &ScimRecord) -> Result<()> {
        self.execute(
            "INSERT INTO scim_resources (resource_type, id, identity, version, body)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (resource_type, id) DO UPDATE SET identity = excluded.identity,
               version = excluded.version, body = excluded.body",
            &[
                &r.resource_type,
                &r.id,
                &r.identity,
                &to_i64(r.version)?,
                &to_json(&r.resource)?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn delete_scim_resource_(&mut self, rt: &str, id: &str) -> Result<()> {
        self.execute(
            "DELETE FROM scim_resources WHERE resource_type = $1 AND id = $2",
            &[&rt, &id],
        )
        .map(drop)
    }

    pub(crate) fn put_change_(&mut self, c: &EntitlementChange) -> Result<()> {
        self.execute(
            "INSERT INTO entitlement_changes (id, system, subject, source_event_id, request, log_index, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET request = excluded.request, body = excluded.body",
            &[
                &c.id,
                &c.change.system,
                &c.change.subject,
                &c.change.source_event_id,
                &c.request,
                &to_i64(c.log_index)?,
                &to_json(c)?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn put_control_exception_(&mut self, e: &ControlException) -> Result<()> {
        self.execute(
            "INSERT INTO control_exceptions (id, kind, key, state, severity, subject, system, assignee, request, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, severity = excluded.severity,
               assignee = excluded.assignee, body = excluded.body",
            &[
                &e.id,
                &e.kind.as_str(),
                &e.key,
                &e.state.as_str(),
                &e.severity.as_str(),
                &e.subject,
                &e.system,
                &e.assignee,
                &e.request,
                &to_json(e)?,
            ],
        )
        .map(drop)
    }

    pub(crate) fn put_webhook_(&mut self, w: &WebhookRecord) -> Result<()> {
        self.execute(
            "INSERT INTO webhooks (id, enabled, body) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, body = excluded.body",
            &[&w.endpoint.id, &w.endpoint.enabled, &to_json(w)?],
        )
        .map(drop)
    }

    pub(crate) fn put_outbox_event_(&mut self, e: &OutboxEvent) -> Result<()> {
        self.execute(
            "INSERT INTO outbox (id, event_type, ordering_key, created_at, body) VALUES ($1, $2, $3, $4, $5)",
            &[
                &e.id,
                &e.event_type,
                &e.ordering_key,
                &unix_millis(e.created_at),
                &e.body,
            ],
        )
        .map(drop)
    }

    pub(crate) fn put_delivery_(&mut self, d: &DeliveryRecord) -> Result<u64> {
        let due = match d.state {
            DeliveryState::Pending => d.next_attempt_at.map(unix_millis),
            _ => None,
        };
        if d.id == 0 {
            let row = self.query_first(
                "INSERT INTO deliveries (endpoint, event_id, ordering_key, state, due, body)
                 VALUES ($1, $2, $3, $4, $5, '{}') RETURNING id",
                &[
                    &d.endpoint,
                    &d.event_id,
                    &d.ordering_key,
                    &d.state.as_str(),
                    &due,
                ],
            )?;
            let id = match row {
                Some(r) => to_u64(col(&r, 0)?)?,
                None => return Err(StoreError::Backend("a delivery got no id".into())),
            };
            let mut stored = d.clone();
            stored.id = id;
            self.execute(
                "UPDATE deliveries SET body = $2 WHERE id = $1",
                &[&to_i64(id)?, &to_json(&stored)?],
            )?;
            return Ok(id);
        }
        let n = self.execute(
            "UPDATE deliveries SET state = $2, due = $3, body = $4 WHERE id = $1",
            &[&to_i64(d.id)?, &d.state.as_str(), &due, &to_json(d)?],
        )?;
        if n == 0 {
            return Err(StoreError::Backend(format!("no delivery {}", d.id)));
        }
        Ok(d.id)
    }

    pub(crate) fn add_delivery_attempt_(&mut self, a: &DeliveryAttempt) -> Result<()> {
        self.execute(
            "INSERT INTO delivery_attempts (delivery, attempt, body) VALUES ($1, $2, $3)
             ON CONFLICT (delivery, attempt) DO UPDATE SET body = excluded.body",
            &[&to_i64(a.delivery)?, &i64::from(a.attempt), &to_json(a)?],
        )
        .map(drop)
    }
}
