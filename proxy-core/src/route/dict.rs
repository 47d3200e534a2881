//! DICT's operations as its OpenAPI 2.12.1 states them (`paths`, the fixture
//! `dict-openapi/openapi.json`): each method and path template, the query parameters it
//! declares, whether it carries a signed body, and its server. The main server's base is
//! `/api/v2/`; `checkKeys` alone lives on the key-check server, `/api-np/v2/` (its own
//! `servers`). Templates keep the spec's trailing slashes: `POST /api/v2/entries/` creates an
//! entry, `/api/v2/entries` is no path of DICT's.

use http::Method;

use super::{RouteError, Server, shown};

/// One operation of DICT's OpenAPI.
#[derive(Debug, PartialEq, Eq)]
pub struct DictOperation {
    /// The spec's `operationId`.
    pub id: &'static str,
    /// The method.
    pub method: Method,
    /// The path under the server's base, `{}` for a path parameter, `""` last for a trailing
    /// slash.
    pub template: &'static [&'static str],
    /// The query parameters it declares.
    pub query: &'static [&'static str],
    /// Whether it changes DICT (everything but reads and `checkKeys`): `dict-write`.
    pub write: bool,
    /// Whether its request body is a signed XML document.
    pub body: bool,
    /// Its server.
    pub server: Server,
}

const fn read(
    id: &'static str,
    template: &'static [&'static str],
    query: &'static [&'static str],
) -> DictOperation {
    DictOperation {
        id,
        method: Method::GET,
        template,
        query,
        write: false,
        body: false,
        server: Server::Main,
    }
}

const fn write(id: &'static str, method: Method, template: &'static [&'static str]) -> DictOperation {
    DictOperation {
        id,
        method,
        template,
        query: &[],
        write: true,
        body: true,
        server: Server::Main,
    }
}

/// Every operation of DICT's OpenAPI 2.12.1 (48).
pub static OPERATIONS: &[DictOperation] = &[
    write("createEntry", Method::POST, &["entries", ""]),
    read("getEntry", &["entries", "{}"], &["IncludeStatistics"]),
    write("updateEntry", Method::PUT, &["entries", "{}"]),
    write("deleteEntry", Method::POST, &["entries", "{}", "delete"]),
    DictOperation {
        id: "checkKeys",
        method: Method::POST,
        template: &["keys", "check"],
        query: &[],
        write: false,
        body: false,
        server: Server::KeyCheck,
    },
    write("createClaim", Method::POST, &["claims", ""]),
    read(
        "listClaims",
        &["claims", ""],
        &[
            "Participant",
            "IncludeIndirectParticipants",
            "IsDonor",
            "IsClaimer",
            "Status",
            "Type",
            "ModifiedAfter",
            "ModifiedBefore",
            "Limit",
        ],
    ),
    read("getClaim", &["claims", "{}"], &[]),
    write("acknowledgeClaim", Method::POST, &["claims", "{}", "acknowledge"]),
    write("confirmClaim", Method::POST, &["claims", "{}", "confirm"]),
    write("cancelClaim", Method::POST, &["claims", "{}", "cancel"]),
    write("completeClaim", Method::POST, &["claims", "{}", "complete"]),
    write(
        "createSyncVerification",
        Method::POST,
        &["sync-verifications", ""],
    ),
    write("createCidSetFile", Method::POST, &["cids", "files", ""]),
    read("getCidSetFile", &["cids", "files", "{}"], &[]),
    read(
        "listCidSetEvents",
        &["cids", "events"],
        &["Participant", "KeyType", "StartTime", "EndTime", "Limit"],
    ),
    read("getEntryByCid", &["cids", "entries", "{}"], &[]),
    write(
        "createInfractionReport",
        Method::POST,
        &["infraction-reports", ""],
    ),
    read(
        "listInfractionReport",
        &["infraction-reports", ""],
        &[
            "Participant",
            "IncludeIndirectParticipants",
            "IsReporter",
            "IsCounterparty",
            "Status",
            "IncludeDetails",
            "ModifiedAfter",
            "ModifiedBefore",
            "Limit",
        ],
    ),
    read("getInfractionReport", &["infraction-reports", "{}"], &[]),
    write(
        "updateInfractionReport",
        Method::PUT,
        &["infraction-reports", "{}"],
    ),
    write(
        "acknowledgeInfractionReport",
        Method::POST,
        &["infraction-reports", "{}", "acknowledge"],
    ),
    write(
        "cancelInfractionReport",
        Method::POST,
        &["infraction-reports", "{}", "cancel"],
    ),
    write(
        "closeInfractionReport",
        Method::POST,
        &["infraction-reports", "{}", "close"],
    ),
    write("createFundsRecovery", Method::POST, &["funds-recoveries", ""]),
    read("getFundsRecovery", &["funds-recoveries", "{}"], &[]),
    write("updateFundsRecovery", Method::PUT, &["funds-recoveries", "{}"]),
    write(
        "createTrackingGraph",
        Method::POST,
        &["funds-recoveries", "{}", "tracking-graph"],
    ),
    read(
        "getTrackingGraph",
        &["funds-recoveries", "{}", "tracking-graph"],
        &[],
    ),
    write(
        "blockFundsRecovery",
        Method::POST,
        &["funds-recoveries", "{}", "block"],
    ),
    read(
        "listFundsRecoveryInfractionReports",
        &["funds-recoveries", "{}", "infraction-reports"],
        &[],
    ),
    write(
        "refundFundsRecovery",
        Method::POST,
        &["funds-recoveries", "{}", "refund"],
    ),
    read(
        "listFundsRecoveryRefunds",
        &["funds-recoveries", "{}", "refunds"],
        &[],
    ),
    write(
        "cancelFundsRecovery",
        Method::POST,
        &["funds-recoveries", "{}", "cancel"],
    ),
    write("createFraudMarker", Method::POST, &["fraud-markers", ""]),
    read(
        "listFraudMarkers",
        &["fraud-markers", ""],
        &[
            "Participant",
            "TaxIdNumber",
            "Key",
            "ModifiedAfter",
            "ModifiedBefore",
            "Limit",
            "page.pageNumber",
            "page.itemsPerPage",
            "Status",
        ],
    ),
    read("getFraudMarker", &["fraud-markers", "{}"], &[]),
    write(
        "cancelFraudMarker",
        Method::POST,
        &["fraud-markers", "{}", "cancel"],
    ),
    write("createRefund", Method::POST, &["refunds", ""]),
    read(
        "listRefund",
        &["refunds", ""],
        &[
            "Participant",
            "IncludeIndirectParticipants",
            "ParticipantRole",
            "Status",
            "IncludeDetails",
            "ModifiedAfter",
            "ModifiedBefore",
            "Limit",
            "Cursor",
        ],
    ),
    read("getRefund", &["refunds", "{}"], &[]),
    write("cancelRefund", Method::POST, &["refunds", "{}", "cancel"]),
    write("closeRefund", Method::POST, &["refunds", "{}", "close"]),
    read("getPersonStatistics", &["persons", "{}", "statistics"], &[]),
    read("getEntryStatistics", &["entries", "{}", "statistics"], &[]),
    read(
        "listEventNotifications",
        &["event-notifications"],
        &["Participant", "IncludeIndirectParticipants", "Cursor"],
    ),
    read("bucketStates", &["policies", ""], &[]),
    read("getPolicy", &["policies", "{}"], &[]),
];

/// The longest path parameter taken (a key is at most 77 characters, an id a UUID).
const MAX_PARAMETER: usize = 200;

/// The operation of `method path`.
pub fn parse(method: &Method, path: &str) -> Result<&'static DictOperation, RouteError> {
    let refuse = |why: &str| {
        RouteError::Path(format!(
            "{method} {} is none of DICT's OpenAPI 2.12.1 operations{why}",
            shown(path, 200)
        ))
    };
    let (server, rest) = if let Some(rest) = path.strip_prefix("/api/v2/") {
        (Server::Main, rest)
    } else if let Some(rest) = path.strip_prefix("/api-np/v2/") {
        (Server::KeyCheck, rest)
    } else {
        return Err(refuse(" (not under /api/v2/ or /api-np/v2/)"));
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let mut bad_parameter = None;
    let found = OPERATIONS.iter().find(|op| {
        op.server == server
            && op.method == *method
            && op.template.len() == segments.len()
            && op.template.iter().zip(&segments).all(|(t, s)| match *t {
                "{}" => match parameter(s) {
                    Ok(()) => true,
                    Err(why) => {
                        bad_parameter = Some(why);
                        false
                    }
                },
                literal => literal == *s,
            })
    });
    match (found, bad_parameter) {
        (Some(op), _) => Ok(op),
        (None, Some(why)) => Err(refuse(&format!(": {why}"))),
        (None, None) => Err(refuse("")),
    }
}

/// A path parameter (a key, an id): non-empty, percent-decoding to printable UTF-8 text without
/// `/`, `\` or a dot-segment, so that BACEN reads the same path segments the proxy matched.
fn parameter(segment: &str) -> Result<(), String> {
    if segment.is_empty() || segment.len() > MAX_PARAMETER {
        return Err(format!("a path parameter of {} bytes", segment.len()));
    }
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| "a path parameter that is not UTF-8".to_string())?;
    if decoded == "." || decoded == ".." {
        return Err("a dot-segment".into());
    }
    if decoded.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err("a path parameter with '/', '\\' or a control character".into());
    }
    Ok(())
}
