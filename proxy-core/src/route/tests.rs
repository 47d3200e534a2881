use super::*;

fn parse(profile: Profile, method: &str, uri: &str) -> Result<Route, RouteError> {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    Route::parse(profile, &method, &uri.parse().unwrap())
}

#[test]
fn icoms_paths_are_read_with_their_ispb() {
    let r = parse(Profile::Spi, "POST", "/api/v1/in/99999010/msgs").unwrap();
    assert_eq!(
        (r.operation, r.path_ispb.as_deref()),
        (Operation::SpiSend, Some("99999010"))
    );
    assert_eq!(r.permission(), Permission::SpiSend);
    assert!(r.signs_body());
    assert_eq!(r.budget(), Some(BudgetSide::Send));
    let r = parse(Profile::Spi, "GET", "/api/v1/out/99999010/stream/start").unwrap();
    assert_eq!(
        (r.operation, r.answer_kind()),
        (Operation::SpiStreamRead, AnswerKind::Stream)
    );
    let r = parse(Profile::Spi, "GET", "/api/v1/out/99999010/stream/0f3a9c").unwrap();
    assert_eq!(
        (r.permission(), r.budget()),
        (Permission::SpiStream, Some(BudgetSide::Read))
    );
    let r = parse(Profile::Spi, "DELETE", "/api/v1/out/99999010/stream/0f3a9c").unwrap();
    assert_eq!(
        (r.operation, r.answer_kind()),
        (Operation::SpiStreamEnd, AnswerKind::Unsigned)
    );
    let r = parse(Profile::Spi, "GET", "/api/v1/in/catalog").unwrap();
    assert_eq!(
        (r.permission(), r.operation, r.path_ispb),
        (Permission::SpiSend, Operation::SpiSendCatalog, None)
    );
    let r = parse(Profile::Spi, "GET", "/api/v1/out/catalog").unwrap();
    assert_eq!(
        (r.answer_kind(), r.permission()),
        (AnswerKind::Unsigned, Permission::SpiStream)
    );
}

#[test]
fn anything_that_is_not_exactly_an_icom_path_is_refused() {
    for (method, path) in [
        ("POST", "/api/v1//out/99999010/msgs"),
        ("GET", "/api/v1//out/99999010/stream/start"),
        ("GET", "/api/v1/OUT/99999010/stream/start"),
        ("POST", "/api/v1/IN/99999010/msgs"),
        ("POST", "/api/v1/in/%399999020/msgs"),
        ("POST", "/api/v1/in/9999901/msgs"),
        ("POST", "/api/v1/in/99999010/msgs/"),
        ("POST", "/api/v1/in/99999010/../99999020/msgs"),
        ("GET", "/api/v1/in/99999010/msgs"),
        ("PUT", "/api/v1/in/99999010/msgs"),
        ("GET", "/api/v1/out/99999010/stream/.."),
        ("GET", "/api/v1/out/99999010/stream/a%2Fb"),
        ("DELETE", "/api/v1/out/99999010/stream/start"),
        ("GET", "/api/v2/entries/x"),
        ("GET", "/elsewhere"),
        ("GET", "/"),
    ] {
        let e = parse(Profile::Spi, method, path).unwrap_err();
        assert!(matches!(e, RouteError::Path(_)), "{method} {path}: {e}");
    }
    // ICOM's paths take no query.
    let e = parse(Profile::Spi, "POST", "/api/v1/in/99999010/msgs?ispb=99999020").unwrap_err();
    assert!(matches!(e, RouteError::Query(_)), "{e}");
    // An absolute URL.
    let e = parse(Profile::Spi, "GET", "https://icom.example/api/v1/in/catalog").unwrap_err();
    assert!(matches!(e, RouteError::Path(_)), "{e}");
}

#[test]
fn dicts_operations_are_read_by_the_openapi_paths() {
    let r = parse(Profile::Dict, "POST", "/api/v2/entries/").unwrap();
    assert_eq!(
        (r.name(), r.permission(), r.signs_body()),
        ("createEntry", Permission::DictWrite, true)
    );
    let r = parse(Profile::Dict, "GET", "/api/v2/entries/+5561988880000").unwrap();
    assert_eq!((r.name(), r.permission()), ("getEntry", Permission::DictRead));
    let r = parse(
        Profile::Dict,
        "GET",
        "/api/v2/entries/fulano%40banco.com.br?IncludeStatistics=true",
    )
    .unwrap();
    assert_eq!(r.query.get("IncludeStatistics"), Some("true"));
    let r = parse(Profile::Dict, "POST", "/api-np/v2/keys/check").unwrap();
    assert_eq!(
        (r.name(), r.server(), r.signs_body(), r.takes_body()),
        ("checkKeys", Server::KeyCheck, false, true)
    );
    assert_eq!(r.permission(), Permission::DictRead);
    let r = parse(
        Profile::Dict,
        "GET",
        "/api/v2/claims/?Participant=99999020&Limit=5",
    )
    .unwrap();
    assert_eq!(
        (r.name(), r.query.get("Participant")),
        ("listClaims", Some("99999020"))
    );
    let r = parse(Profile::Dict, "GET", "/api/v2/fraud-markers/?page.pageNumber=2").unwrap();
    assert_eq!(r.name(), "listFraudMarkers");
    assert_eq!(
        dict::OPERATIONS.len(),
        48,
        "every operation of DICT's OpenAPI 2.12.1"
    );
}

#[test]
fn anything_that_is_not_exactly_a_dict_operation_is_refused() {
    for (method, path) in [
        // keys/check only on the key-check server, never matched by suffix.
        ("POST", "/api/v2/keys/check"),
        ("POST", "/api/v2/anything/keys/check"),
        ("POST", "/api-np/v2/entries/"),
        ("POST", "/api/v2/entries"),
        ("POST", "/api/v2/ENTRIES/"),
        ("GET", "/api/v2/entries/.."),
        ("GET", "/api/v2/entries/%2e%2E"),
        ("GET", "/api/v2/entries/a%2Fb"),
        ("GET", "/api/v2/entries/a%5Cb"),
        ("GET", "/api/v2/entries/a%00b"),
        ("GET", "/api/v2/entries/%FF"),
        ("GET", "/api/v2/entries/"),
        ("DELETE", "/api/v2/entries/k"),
        ("GET", "/api/v2//entries/k"),
        ("GET", "/api/v1/in/catalog"),
    ] {
        let e = parse(Profile::Dict, method, path).unwrap_err();
        assert!(matches!(e, RouteError::Path(_)), "{method} {path}: {e}");
    }
}

#[test]
fn a_query_takes_only_declared_names_each_once() {
    for uri in [
        "/api/v2/claims/?Participant=99999010&Participant=99999020",
        "/api/v2/claims/?participant=99999020",
        "/api/v2/claims/?PARTICIPANT=99999020",
        "/api/v2/claims/?Particip%61nt=99999020",
        "/api/v2/claims/?Participant=99999010&Unknown=1",
        "/api/v2/claims/?=99999010",
        "/api/v2/claims/?Participant=9999%0A9010",
        "/api/v2/entries/k?Participant=99999020",
    ] {
        let e = parse(Profile::Dict, "GET", uri).unwrap_err();
        assert!(matches!(e, RouteError::Query(_)), "{uri}: {e}");
    }
    // Percent-decoded: the value checked is the value BACEN reads.
    let r = parse(Profile::Dict, "GET", "/api/v2/claims/?Participant=%399999020").unwrap();
    assert_eq!(r.query.get("Participant"), Some("99999020"));
}
