//! The route table of DICT (`proxy_core::route::dict::OPERATIONS`) is DICT's OpenAPI 2.12.1: every
//! operation of the spec's `paths` with its method, path, server and query parameters, and
//! nothing else. Reads the spec from `../shared/fixtures/dict-openapi/openapi.json` (outside
//! material, never committed); SKIPPED without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use proxy_core::route::{Server, dict::OPERATIONS};

#[test]
fn every_dict_operation_of_the_openapi_and_nothing_else() {
    let Some(spec) = testkit::tools::shared("fixtures/dict-openapi/openapi.json") else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(spec).unwrap()).unwrap();
    let mut from_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let key_check = op["servers"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["url"].as_str().unwrap().contains("/api-np/")));
            let mut query: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            query.sort();
            // The template with every `{Name}` as `{}`.
            let template: Vec<String> = path
                .trim_start_matches('/')
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "{}".to_string()
                    } else {
                        s.to_string()
                    }
                })
                .collect();
            from_spec.insert((
                op["operationId"].as_str().unwrap().to_string(),
                method.to_uppercase(),
                template,
                key_check,
                query,
            ));
        }
    }
    let ours: BTreeSet<_> = OPERATIONS
        .iter()
        .map(|op| {
            let mut query: Vec<String> = op.query.iter().map(|q| q.to_string()).collect();
            query.sort();
            (
                op.id.to_string(),
                op.method.to_string(),
                op.template.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                op.server == Server::KeyCheck,
                query,
            )
        })
        .collect();
    let missing: Vec<_> = from_spec.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&from_spec).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing: {missing:#?}\nnot in the spec: {extra:#?}"
    );
    // A write is every operation that is neither a GET nor checkKeys.
    for op in OPERATIONS {
        let read = op.method == http::Method::GET || op.id == "checkKeys";
        assert_eq!(op.write, !read, "{}", op.id);
    }
}
