//! API Gateway REST proxy (v1) events as the private API hands them to the function. Shared by
//! the handler tests, the runtime-API test and `examples/kms_costs.rs` (included by path).
#![allow(dead_code)]

use base64::Engine;

/// The event for `method path` with an optional query parameter and body (base64-encoded when
/// `base64`, as API Gateway sends binary media types), as JSON text.
pub fn rest_event(
    method: &str,
    path: &str,
    query: Option<(&str, &str)>,
    body: Option<&str>,
    base64: bool,
) -> String {
    let body = body.map(|b| {
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(b)
        } else {
            b.to_string()
        }
    });
    let (q, mq) = match query {
        Some((k, v)) => (serde_json::json!({ k: v }), serde_json::json!({ k: [v] })),
        None => (serde_json::Value::Null, serde_json::Value::Null),
    };
    serde_json::json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/xml; charset=utf-8", "Host": "abc123.execute-api.sa-east-1.amazonaws.com"},
        "multiValueHeaders": {
            "Content-Type": ["application/xml; charset=utf-8"],
            "Host": ["abc123.execute-api.sa-east-1.amazonaws.com"],
            "Accept": ["application/xml", "application/json"],
            "PI-RequestingParticipant": ["99999010"]
        },
        "queryStringParameters": q,
        "multiValueQueryStringParameters": mq,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "resourcePath": "/{proxy+}", "httpMethod": method, "path": format!("/prod{path}"),
            "accountId": "123456789012", "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "10.0.1.25"}, "apiId": "abc123",
            "domainName": "abc123.execute-api.sa-east-1.amazonaws.com"
        },
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}
