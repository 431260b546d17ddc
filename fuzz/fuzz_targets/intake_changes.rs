//! Entitlement-change intake: the bodies of `POST /v1/entitlement-changes`
//! (`intake::parse_change_body`, JSON or NDJSON) and the files of
//! `countersign entitlements import` (`intake::read_ndjson`,
//! `intake::read_csv`, `intake::check_records`).
//!
//! The first byte picks the reader: 0 JSON body, 1 NDJSON body, 2 NDJSON
//! import file, 3 CSV import file.
//!
//! Invariants: a single-object body answers exactly one change; changes
//! that parsed re-serialise to an NDJSON body and a JSON array that parse
//! back equal; records that an import file gave write back to NDJSON and to
//! CSV (header `CHANGE_FIELDS`) that read back as the same changes with no
//! problems; record line numbers increase and lie within the file.
#![no_main]

use countersign_proto::iga::ReportChange;
use countersign_proto::intake::{
    check_records, parse_change_body, read_csv, read_ndjson, BodyFormat, Record, CHANGE_FIELDS,
};
use libfuzzer_sys::fuzz_target;

fn ndjson(changes: &[ReportChange]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in changes {
        serde_json::to_writer(&mut out, c).unwrap();
        out.push(b'\n');
    }
    out
}

fn csv_of(changes: &[ReportChange]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CHANGE_FIELDS).unwrap();
    for c in changes {
        let v = serde_json::to_value(c).unwrap();
        let row: Vec<String> = CHANGE_FIELDS
            .iter()
            .map(|f| v[*f].as_str().unwrap().to_owned())
            .collect();
        w.write_record(&row).unwrap();
    }
    w.into_inner().unwrap()
}

fn changes_of(records: &[Record]) -> Vec<ReportChange> {
    records.iter().map(|r| r.change.clone()).collect()
}

fn check_import(records: &[Record], data: &[u8]) {
    // Lines end at \n, \r\n or a lone \r, as the reader numbers them.
    let breaks = data
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count() as u64;
    let lines = breaks + 1;
    for pair in records.windows(2) {
        assert!(pair[0].line < pair[1].line);
    }
    for r in records {
        assert!(r.line >= 1 && r.line <= lines, "line {} of {lines}", r.line);
    }
    let mut problems = Vec::new();
    check_records(records, &mut problems);
    let changes = changes_of(records);
    let mut p = Vec::new();
    assert_eq!(changes_of(&read_ndjson(&ndjson(&changes), &mut p)), changes);
    assert!(p.is_empty(), "{p:?}");
    if !changes.is_empty() {
        assert_eq!(changes_of(&read_csv(&csv_of(&changes), &mut p)), changes);
        assert!(p.is_empty(), "{p:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 | 1 => {
            let format = if mode == 0 {
                BodyFormat::Json
            } else {
                BodyFormat::Ndjson
            };
            if let Ok((changes, single)) = parse_change_body(format, rest) {
                if single {
                    assert_eq!(changes.len(), 1);
                }
                let back = parse_change_body(BodyFormat::Ndjson, &ndjson(&changes)).unwrap();
                assert_eq!(back.0, changes);
                let array = serde_json::to_vec(&changes).unwrap();
                assert_eq!(
                    parse_change_body(BodyFormat::Json, &array).unwrap().0,
                    changes
                );
            }
        }
        2 => {
            let mut problems = Vec::new();
            let records = read_ndjson(rest, &mut problems);
            check_import(&records, rest);
        }
        3 => {
            let mut problems = Vec::new();
            let records = read_csv(rest, &mut problems);
            check_import(&records, rest);
        }
        _ => {}
    }
});
