//! The Glue tables of `infrastructure/stacks/audit.yaml` (SPI and DICT) have exactly the columns of
//! the audit record, in order, with the same types: Firehose converts records to Parquet with that
//! schema, so a field the table lacks is silently dropped from the regulator's trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proxy_core::audit::GLUE_COLUMNS;

/// The `- { Name: …, Type: … }` lines of each `Columns:` block of the template.
fn glue_tables(template: &str) -> Vec<Vec<(String, String)>> {
    let mut tables = Vec::new();
    let mut lines = template.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() != "Columns:" {
            continue;
        }
        let mut columns = Vec::new();
        while let Some(next) = lines.peek() {
            let Some(inner) = next.trim().strip_prefix("- {").and_then(|l| l.strip_suffix('}')) else {
                break;
            };
            let mut name = String::new();
            let mut ty = String::new();
            for field in inner.split(',') {
                match field.trim().split_once(':') {
                    Some(("Name", v)) => name = v.trim().to_string(),
                    Some(("Type", v)) => ty = v.trim().to_string(),
                    _ => panic!("unexpected column syntax: {next}"),
                }
            }
            columns.push((name, ty));
            lines.next();
        }
        tables.push(columns);
    }
    tables
}

#[test]
fn glue_tables_match_the_audit_record() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infrastructure/stacks/audit.yaml");
    let template = std::fs::read_to_string(path).expect("audit.yaml");
    let tables = glue_tables(&template);
    assert_eq!(tables.len(), 2, "expected the spi and dict tables");
    let expected: Vec<(String, String)> = GLUE_COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    for table in tables {
        assert_eq!(table, expected);
    }
}

#[test]
fn the_column_parser_sees_a_difference() {
    let template =
        "Columns:\n  - { Name: request_id, Type: string }\n  - { Name: extra, Type: int }\nOther: x\n";
    let tables = glue_tables(template);
    assert_eq!(
        tables,
        vec![vec![
            ("request_id".into(), "string".into()),
            ("extra".into(), "int".into())
        ]]
    );
}
