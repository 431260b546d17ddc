//! Notifications: the mails Countersign sends people (an approval awaits
//! them, reminders, outcomes, enrolment links), as each recipient sees
//! their history.
//!
//! Mails are operational state, like webhook deliveries: they go through
//! the transactional outbox, hold an address and a name, and so never
//! enter the append-only log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::wire_names;
use crate::Timestamp;

wire_names!(NotificationKind { ApprovalNeeded => "approval_needed", Reminder => "reminder", Approved => "approved", Rejected => "rejected", Expired => "expired", Voided => "voided", Invitation => "invitation" });
wire_names!(NotificationState { Pending => "pending", Sent => "sent", Dead => "dead", NoAddress => "no_address" });

/// Why a mail was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A request needs the recipient's decision (as approver, a re-routed
    /// approver, or a delegate).
    ApprovalNeeded,
    /// A request the recipient must still decide expires soon.
    Reminder,
    /// The recipient's request was approved.
    Approved,
    Rejected,
    Expired,
    Voided,
    /// A link to enrol a first passkey.
    Invitation,
}

/// Where a mail is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    /// Waiting to be sent (or retried).
    Pending,
    Sent,
    /// Given up after the configured number of attempts.
    Dead,
    /// The recipient has no e-mail address; nothing can be sent.
    NoAddress,
}

/// One mail, as its recipient sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: String,
    /// Handle of the recipient.
    pub identity: String,
    pub kind: NotificationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    pub subject: String,
    pub state: NotificationState,
    pub attempts: u32,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    /// The last failure, for the operator (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// List of notifications, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
}
