//! One notification as an RFC 5322 message.
//!
//! The caller writes the words ([`Email`]); this module turns them into
//! bytes that survive any relay: the subject and display names are RFC 2047
//! encoded words, the bodies UTF-8 with a `quoted-printable` or `base64`
//! transfer encoding, so the message itself is 7-bit ASCII and needs neither
//! `8BITMIME` nor `SMTPUTF8` (unless an address itself is not ASCII).
//!
//! Every message carries `Auto-Submitted: auto-generated` (RFC 3834), so
//! that vacation responders and other automatic replies stay quiet, and a
//! `Message-ID` the caller chose, so a retried notification keeps its id
//! and receivers can recognise the duplicate.

use std::time::SystemTime;

use lettre::message::header::{ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0};
use lettre::message::{Mailbox, MultiPart};
use lettre::Address;
use time::OffsetDateTime;

use crate::{Error, Result};

/// Value of the `Auto-Submitted` header of every message.
pub const AUTO_SUBMITTED: &str = "auto-generated";

/// Who a notification is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The person's name as it should appear in `To`, if known.
    pub name: Option<String>,
    /// The address, `local@domain`.
    pub address: String,
}

/// One notification: an approval awaits, a reminder, an outcome, an
/// enrolment link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The `Message-ID`, with or without its angle brackets:
    /// `<request-42.reminder-1@countersign.example.com>`. It must stay the
    /// same when the caller retries the same notification, which is why
    /// the caller chooses it (derive it from the outbox row, not from a
    /// random number drawn per attempt).
    pub message_id: String,
    /// The one recipient. A notification to several people is several
    /// messages, each with its own id and its own outcome.
    pub to: Recipient,
    /// The subject, any Unicode text on one line.
    pub subject: String,
    /// The plain-text body; always sent.
    pub text: String,
    /// An HTML rendering of the same content; when present the message is
    /// `multipart/alternative` with the plain text first.
    pub html: Option<String>,
}

impl Email {
    /// The message and its envelope. Pure: `now` becomes the `Date`
    /// header. See [`mail_data`] for the bytes.
    pub(crate) fn render(&self, from: &Mailbox, now: OffsetDateTime) -> Result<lettre::Message> {
        let message_id = message_id(&self.message_id)?;
        let to = recipient(&self.to)?;
        let subject = one_line("subject", &self.subject)?;
        let date = date(now)?;
        let builder = lettre::Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id))
            .date(date)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                AUTO_SUBMITTED.to_owned(),
            ));
        let built = match &self.html {
            // A plain body rather than a one-part MIME body: lettre ends
            // the latter with an extra line break, which would arrive as
            // part of the text.
            None => builder
                .header(MIME_VERSION_1_0)
                .header(ContentType::TEXT_PLAIN)
                .body(self.text.clone()),
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                html.clone(),
            )),
        };
        built.map_err(|err| invalid("message", err.to_string()))
    }
}

/// The message as the server stores it: lettre's formatting, ending in
/// exactly one line break (RFC 5322 lines end in CRLF, the last one too).
///
/// lettre's DATA writes `CRLF . CRLF` after whatever it is given, so the
/// final CRLF is not sent with the data but taken from that terminator
/// (RFC 5321 section 4.1.1.4: its first CRLF ends the last line); given a
/// message that already ended in CRLF, the server would store an extra
/// empty line.
pub(crate) fn mail_data(message: &lettre::Message) -> Vec<u8> {
    let mut data = message.formatted();
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Message {
        field,
        reason: reason.into(),
    }
}

/// Checks and normalises a Message-ID to `<left@right>` (RFC 5322 section
/// 3.6.4, without the obsolete and quoted forms, which nobody needs for
/// ids they make themselves).
fn message_id(id: &str) -> Result<String> {
    let bare = id
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(id);
    let (left, right) = bare.split_once('@').ok_or_else(|| {
        invalid(
            "message_id",
            format!("{id:?} is not of the form <left@domain>"),
        )
    })?;
    // atext (RFC 5322 section 3.2.3) and dots, as in a dot-atom.
    let dot_atom = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && !part.ends_with('.')
            && !part.contains("..")
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
    };
    if !dot_atom(left) || !dot_atom(right) {
        return Err(invalid(
            "message_id",
            format!("{id:?} is not of the form <left@domain> with letters, digits, dots and RFC 5322 atext only"),
        ));
    }
    // A line longer than 998 characters is illegal (RFC 5322 section
    // 2.1.1) and header lines are not folded inside an id.
    if bare.len() > 900 {
        return Err(invalid("message_id", "is longer than 900 characters"));
    }
    Ok(format!("<{bare}>"))
}

fn recipient(to: &Recipient) -> Result<Mailbox> {
    let address: Address = to.address.trim().parse().map_err(|err| {
        invalid(
            "to.address",
            format!("{:?} is not an e-mail address: {err}", to.address),
        )
    })?;
    let name = match &to.name {
        None => None,
        Some(name) => {
            let name = one_line("to.name", name)?.trim();
            (!name.is_empty()).then(|| name.to_owned())
        }
    };
    Ok(Mailbox::new(name, address))
}

/// Refuses line breaks and other control characters: in a header they
/// would at best be mangled and at worst start a header of their own.
fn one_line<'a>(field: &'static str, text: &'a str) -> Result<&'a str> {
    if text.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "contains a line break or another control character",
        ));
    }
    Ok(text)
}

/// `now` as the `Date` header's input. lettre formats dates through
/// `httpdate`, which panics outside 1970..=9999, so those are refused here.
fn date(now: OffsetDateTime) -> Result<SystemTime> {
    if !(1970..=9999).contains(&now.year()) {
        return Err(invalid(
            "date",
            format!("{now} is outside the years 1970 to 9999"),
        ));
    }
    Ok(SystemTime::from(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn email() -> Email {
        Email {
            message_id: "request-42.reminder-1@countersign.example.com".into(),
            to: Recipient {
                name: Some("Zoë Ångström".into()),
                address: "zoe@example.com".into(),
            },
            subject: "Approval awaits you: déploiement « prod » ✓".into(),
            text: "Bonjour Zoë,\n\nune approbation vous attend.\n".into(),
            html: None,
        }
    }

    fn from() -> Mailbox {
        "Countersign <countersign@example.com>".parse().unwrap()
    }

    fn formatted(e: &Email) -> String {
        let message = e
            .render(&from(), datetime!(2025-03-04 05:06:07 UTC))
            .unwrap();
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn headers_and_ascii_encoding() {
        let text = formatted(&email());
        assert!(text.is_ascii(), "{text}");
        assert!(
            text.contains("\r\nAuto-Submitted: auto-generated\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Message-ID: <request-42.reminder-1@countersign.example.com>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Date: Tue, 04 Mar 2025 05:06:07 +0000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("From: Countersign <countersign@example.com>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nSubject: Approval awaits you: =?utf-8?b?"),
            "{text}"
        );
        assert!(
            text.ends_with("attend.=0D=0A\r\n") || text.ends_with("attend.\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8"),
            "{text}"
        );
        assert_eq!(text.matches("\r\nDate:").count(), 1, "{text}");
        assert!(!text.contains("multipart"), "{text}");
    }

    #[test]
    fn html_makes_it_multipart_alternative() {
        let mut e = email();
        e.html = Some("<p>Bonjour Zoë</p>".into());
        let text = formatted(&e);
        assert!(
            text.contains("Content-Type: multipart/alternative;"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/html; charset=utf-8"),
            "{text}"
        );
        let plain = text.find("text/plain").unwrap();
        let html = text.find("text/html").unwrap();
        assert!(plain < html, "plain text must come first: {text}");
    }

    #[test]
    fn message_ids_are_normalised_and_checked() {
        assert_eq!(message_id("a.b@c.d").unwrap(), "<a.b@c.d>");
        assert_eq!(message_id("<a.b@c.d>").unwrap(), "<a.b@c.d>");
        for bad in [
            "",
            "no-at",
            "<a@>",
            "@b",
            "a b@c",
            "a@b@c",
            "<a@b",
            "a..b@c",
            "a@b>\r\nBcc: x@y",
        ] {
            let err = message_id(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Message {
                        field: "message_id",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn header_injection_is_refused() {
        let mut e = email();
        e.subject = "Hi\r\nBcc: victim@example.com".into();
        let err = e
            .render(&from(), datetime!(2025-03-04 05:06:07 UTC))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Message {
                    field: "subject",
                    ..
                }
            ),
            "{err}"
        );

        let mut e = email();
        e.to.name = Some("Eve\nBcc: x@example.com".into());
        let err = e
            .render(&from(), datetime!(2025-03-04 05:06:07 UTC))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Message {
                    field: "to.name",
                    ..
                }
            ),
            "{err}"
        );

        let mut e = email();
        e.to.address = "not an address".into();
        let err = e
            .render(&from(), datetime!(2025-03-04 05:06:07 UTC))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Message {
                    field: "to.address",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn dates_outside_httpdate_range_are_errors_not_panics() {
        let err = email()
            .render(&from(), datetime!(1969-12-31 23:59:59 UTC))
            .unwrap_err();
        assert!(matches!(err, Error::Message { field: "date", .. }), "{err}");
        email()
            .render(&from(), datetime!(9999-12-31 23:59:59 UTC))
            .unwrap();
        // Another offset is converted, not misread.
        let text = String::from_utf8(
            email()
                .render(&from(), datetime!(2025-03-04 07:06:07 +02:00))
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(
            text.contains("Date: Tue, 04 Mar 2025 05:06:07 +0000\r\n"),
            "{text}"
        );
    }
}
