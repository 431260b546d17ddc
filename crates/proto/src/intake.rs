//! Reading reported entitlement changes from untrusted bytes: the bodies of
//! `POST /v1/entitlement-changes` (one JSON change, a JSON array, or NDJSON)
//! and the files `countersign entitlements import` reads (NDJSON or CSV).
//!
//! Pure functions of the bytes, so the server, the CLI and the fuzz targets
//! (`fuzz/fuzz_targets/intake_changes.rs`) share one parser. What it does
//! not do: read files, speak HTTP or decide what a change means; the server
//! maps an [`IntakeError`]'s code to a response and the CLI prints problems
//! as `FILE:LINE: what`.

use std::collections::HashMap;

use crate::iga::ReportChange;
use crate::ErrorCode;

/// The fields of a reported change, which are also the CSV columns of an import.
pub const CHANGE_FIELDS: &[&str] = &[
    "system",
    "subject",
    "operation",
    "entitlement",
    "changed_at",
    "changed_by",
    "source_event_id",
];

/// How an intake body is framed, from its content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: one change or an array of changes.
    Json,
    /// `application/x-ndjson` or `application/jsonl`: one change per line.
    Ndjson,
}

/// Why an intake body was refused: the stable error code and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntakeError {
    pub code: ErrorCode,
    pub detail: String,
}

/// Parses an intake body. Answers the changes and whether the body was a
/// single JSON object (answered with one `ChangeIntake`, not a batch).
pub fn parse_change_body(
    format: BodyFormat,
    body: &[u8],
) -> Result<(Vec<ReportChange>, bool), IntakeError> {
    let bad = |detail: String| IntakeError {
        code: ErrorCode::BadRequest,
        detail,
    };
    let invalid = |detail: String| IntakeError {
        code: ErrorCode::InvalidField,
        detail,
    };
    if format == BodyFormat::Ndjson {
        let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8".into()))?;
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let c = serde_json::from_str(line).map_err(|e| bad(format!("line {}: {e}", n + 1)))?;
            out.push(c);
        }
        return Ok((out, false));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    if value.is_array() {
        let changes: Vec<ReportChange> = serde_json::from_value(value)
            .map_err(|e| invalid(format!("not a list of changes: {e}")))?;
        Ok((changes, false))
    } else {
        let change: ReportChange =
            serde_json::from_value(value).map_err(|e| invalid(format!("not a change: {e}")))?;
        Ok((vec![change], true))
    }
}

/// One change read from an import file, with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub change: ReportChange,
}

/// Problems found in an import file: (line, what).
pub type Problems = Vec<(u64, String)>;

/// Reads an NDJSON import file (a UTF-8 BOM and blank lines are allowed).
pub fn read_ndjson(bytes: &[u8], problems: &mut Problems) -> Vec<Record> {
    let mut records = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = n as u64 + 1;
        let Ok(line) = std::str::from_utf8(line) else {
            problems.push((line_no, "not UTF-8 text".into()));
            continue;
        };
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        let object = match serde_json::from_str(line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                problems.push((line_no, "expected a JSON object".into()));
                continue;
            }
            Err(e) => {
                problems.push((line_no, format!("not JSON: {e}")));
                continue;
            }
        };
        match change_from_object(object) {
            Ok(change) => records.push(Record {
                line: line_no,
                change,
            }),
            Err(why) => problems.push((line_no, why)),
        }
    }
    records
}

/// Reads a CSV import file whose header names exactly [`CHANGE_FIELDS`].
pub fn read_csv(bytes: &[u8], problems: &mut Problems) -> Vec<Record> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::Headers)
        .from_reader(bytes);
    let columns: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => {
            problems.push((1, csv_problem(&e)));
            return Vec::new();
        }
    };
    for (i, name) in columns.iter().enumerate() {
        if !CHANGE_FIELDS.contains(&name.as_str()) {
            problems.push((
                1,
                format!(
                    "unknown column {name:?}; the columns are {}",
                    CHANGE_FIELDS.join(", ")
                ),
            ));
        } else if columns[..i].contains(name) {
            problems.push((1, format!("column {name:?} appears twice")));
        }
    }
    let missing: Vec<&str> = CHANGE_FIELDS
        .iter()
        .copied()
        .filter(|f| !columns.iter().any(|c| c == f))
        .collect();
    if !missing.is_empty() {
        problems.push((1, format!("missing column(s): {}", missing.join(", "))));
    }
    if !problems.is_empty() {
        return Vec::new();
    }
    let mut records = Vec::new();
    let mut lines = Lines::new(bytes);
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                problems.push((line, csv_problem(&e)));
                continue;
            }
        };
        let line = row.position().map_or(0, |p| lines.at(p.byte()));
        let object = columns
            .iter()
            .zip(row.iter())
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string())))
            .collect();
        match change_from_object(object) {
            Ok(change) => records.push(Record { line, change }),
            Err(why) => problems.push((line, why)),
        }
    }
    records
}

/// Line numbers as an editor shows them: a line ends at `\n`, at `\r\n`,
/// or at a `\r` alone (the CSV reader ends records at all three, but counts
/// only `\n`). Asked for increasing offsets, it scans each byte once.
struct Lines<'a> {
    bytes: &'a [u8],
    scanned: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            scanned: 0,
            line: 1,
        }
    }

    /// The line of the record the reader says starts at byte `offset`
    /// (after a `\r` ending it may point at the `\n` that follows: a record
    /// never starts with a line break, so those are skipped first).
    fn at(&mut self, offset: u64) -> u64 {
        let mut end = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(end), Some(b'\r' | b'\n')) {
            end += 1;
        }
        while self.scanned < end {
            let b = self.bytes.get(self.scanned).copied();
            let next = self.bytes.get(self.scanned + 1).copied();
            if b == Some(b'\n') || (b == Some(b'\r') && next != Some(b'\n')) {
                self.line += 1;
            }
            self.scanned += 1;
        }
        self.line
    }
}

/// Read one change from its fields. NDJSON lines and CSV rows both come
/// through here, so they are read by the same rules with the same messages.
fn change_from_object(
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<ReportChange, String> {
    // The time parser's own message ("the 'year' component could not be
    // parsed") does not say which field or what was expected.
    if let Some(serde_json::Value::String(t)) = object.get("changed_at") {
        if time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_err() {
            return Err(format!(
                "changed_at must be an RFC 3339 time like 2026-12-31T17:00:00Z, not {t:?}"
            ));
        }
    }
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| e.to_string())
}

fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields but the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

/// Checks the server would refuse a whole batch for, caught before sending:
/// blank fields, and a source event reused for a different change.
pub fn check_records(records: &[Record], problems: &mut Problems) {
    let mut seen: HashMap<(&str, &str), &Record> = HashMap::new();
    for r in records {
        let c = &r.change;
        for (field, value) in [
            ("system", &c.system),
            ("subject", &c.subject),
            ("entitlement", &c.entitlement),
            ("changed_by", &c.changed_by),
            ("source_event_id", &c.source_event_id),
        ] {
            if value.trim().is_empty() {
                problems.push((r.line, format!("{field} is empty")));
            }
        }
        let key = (c.system.as_str(), c.source_event_id.as_str());
        match seen.get(&key) {
            Some(earlier) if earlier.change != *c => problems.push((
                r.line,
                format!(
                    "source_event_id {:?} of {:?} is used on line {} for a different change",
                    c.source_event_id, c.system, earlier.line
                ),
            )),
            Some(_) => {}
            None => {
                seen.insert(key, r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = "github,dave,grant,org/acme/team/eng,2026-03-02T10:30:00Z,okta-admin";

    fn lines_of(csv: &str) -> Vec<u64> {
        let mut problems = Vec::new();
        let records = read_csv(csv.as_bytes(), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        records.iter().map(|r| r.line).collect()
    }

    /// Found by the `intake_changes` fuzzer: records ended by a bare `\r`
    /// were all reported on one line.
    #[test]
    fn csv_rows_are_numbered_as_an_editor_shows_them_whatever_the_line_ends() {
        let header = "system,subject,operation,entitlement,changed_at,changed_by,source_event_id";
        for end in ["\n", "\r\n", "\r"] {
            let csv = format!("{header}{end}{ROW},e1{end}{ROW},e2{end}{ROW},e3{end}");
            assert_eq!(lines_of(&csv), vec![2, 3, 4], "line end {end:?}");
        }
    }
}
