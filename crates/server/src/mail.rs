//! The mail sender: drains the mail outbox the ledger fills, in the same
//! way the webhook sender drains deliveries. A mail is composed and stored
//! in the transaction of the change it reports, so a crash or a mail
//! server that is down only delays it; each attempt is recorded, failures
//! are retried with capped exponential backoff, and a mail the server
//! refuses for good (a 5xx) or that fails too often is dead. The stable
//! Message-ID lets a receiver drop a duplicate from a retry whose
//! acknowledgement was lost.

use countersign_ledger::MailOutcome;
use countersign_mail::{Email, Recipient};

use crate::deliver::jitter;
use crate::AppState;

/// The longest one mail's sending is given before another instance may
/// try it (the SMTP transport's own timeouts are shorter).
const MAIL_CLAIM: std::time::Duration = std::time::Duration::from_secs(120);

/// Poll and send until the task is aborted; nothing when mail is off.
pub async fn run(state: AppState) {
    let Some(mailer) = state.web.mailer.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(state.web.mail_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A mail is claimed for longer than sending it may take, so no
        // other instance on this log sends it meanwhile.
        let instance = state.config.instance.clone();
        let claim = MAIL_CLAIM + state.config.lease;
        let due = match state
            .run_internal(move |l, now| l.claim_due_mails(&instance, claim, now, 50))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e.problem.detail, "reading the mail outbox failed");
                continue;
            }
        };
        for m in due {
            let Some(address) = m.address.clone() else {
                continue;
            };
            let email = Email {
                message_id: m.message_id.clone(),
                to: Recipient {
                    name: Some(m.display_name.clone()),
                    address,
                },
                subject: m.subject.clone(),
                text: m.text.clone(),
                html: m.html.clone(),
            };
            let now = state.clock.now();
            let outcome = match mailer.send(&email, now).await {
                Ok(_) => MailOutcome::Sent,
                Err(e) if e.is_transient() => MailOutcome::Transient(e.to_string()),
                Err(e) => MailOutcome::Permanent(e.to_string()),
            };
            if let MailOutcome::Transient(e) | MailOutcome::Permanent(e) = &outcome {
                tracing::warn!(mail = %m.id, error = %e, "sending a mail failed");
            }
            state.metrics.delivery(
                "mail",
                match &outcome {
                    MailOutcome::Sent => "delivered",
                    MailOutcome::Transient(_) => "retry",
                    MailOutcome::Permanent(_) => "dead",
                },
            );
            let id = m.id.clone();
            let j = jitter();
            if let Err(e) = state
                .run_internal(move |l, now| l.mail_attempted(&id, outcome, j, now))
                .await
            {
                tracing::warn!(error = %e.problem.detail, "recording a mail attempt failed");
            }
        }
    }
}
