"""The DICT spec checker (scripts/dict_spec.py) against DICT's OpenAPI 2.12.1
(../shared/fixtures/dict-openapi/openapi.json): what it accepts and what it catches. Skips, saying
so, without ../shared."""

import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPENAPI = ROOT.parent / "shared/fixtures/dict-openapi/openapi.json"

spec_module = importlib.util.spec_from_file_location("dict_spec", ROOT / "scripts/dict_spec.py")
dict_spec = importlib.util.module_from_spec(spec_module)
spec_module.loader.exec_module(dict_spec)


@pytest.fixture(scope="module")
def spec():
    if not OPENAPI.exists():
        pytest.skip(f"SKIPPED: {OPENAPI} is absent (../shared is not beside this checkout)")
    return dict_spec.Spec(json.loads(OPENAPI.read_text()))


SIGNATURE = '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature>'


def record(method, path, request="", status=200, answer=""):
    return {
        "request_id": "r1",
        "request_method": method,
        "request_path": path,
        "request_body": request,
        "response_status_code": status,
        "response_body": answer,
    }


def check_keys_answer(keys):
    return (
        f"<CheckKeysResponse>{SIGNATURE}<ResponseTime>2026-12-04T10:00:00.000Z</ResponseTime>"
        f"<CorrelationId>a9f13566e19f5ca51329479a5bae60c5</CorrelationId><Keys>{keys}</Keys></CheckKeysResponse>"
    )


def test_a_keys_check_as_the_openapi_defines_it_passes(spec):
    r = record(
        "POST",
        "/api-np/v2/keys/check",
        "<CheckKeysRequest><Keys><Key>+5561988880000</Key></Keys></CheckKeysRequest>",
        200,
        check_keys_answer('<Key hasEntry="true">+5561988880000</Key>'),
    )
    assert dict_spec.check_record(spec, r) == []


def test_a_deliberately_wrong_body_is_caught_naming_the_rule(spec):
    # An element the schema does not have, a missing required one, an enumeration broken.
    wrong = record(
        "POST",
        "/api-np/v2/keys/check",
        "<CheckKeysRequest><Participant>99999010</Participant></CheckKeysRequest>",
        200,
        check_keys_answer('<Key hasEntry="maybe">x</Key>'),
    )
    violations = dict_spec.check_record(spec, wrong)
    assert any("CheckKeysRequest/Participant: not an element" in v for v in violations), violations
    assert any("CheckKeysRequest/Keys: required, missing" in v for v in violations), violations
    assert any("@hasEntry" in v and "boolean" in v for v in violations), violations


def test_operations_servers_and_statuses_are_the_openapis(spec):
    assert "under none of DICT's servers" in dict_spec.check_record(spec, record("GET", "/api/v1/x"))[0]
    assert "no such operation" in dict_spec.check_record(spec, record("POST", "/api/v2/nothing/"))[0]
    wrong_status = dict_spec.check_record(spec, record("GET", "/api/v2/claims/x", status=418))
    assert any("status 418" in v for v in wrong_status), wrong_status


def test_patterns_formats_and_item_names_are_checked(spec):
    answer = (
        f"<GetClaimResponse>{SIGNATURE}<ResponseTime>yesterday</ResponseTime>"
        "<CorrelationId>a9f13566e19f5ca51329479a5bae60c5</CorrelationId><Claim><Id>not-a-uuid</Id></Claim></GetClaimResponse>"
    )
    violations = dict_spec.check_record(spec, record("GET", "/api/v2/claims/x", status=200, answer=answer))
    assert any("ResponseTime: 'yesterday' is not a date-time" in v for v in violations), violations
    assert any("Claim/Id: 'not-a-uuid' is not a UUID" in v for v in violations), violations
    assert any("Claim/Status: required, missing" in v for v in violations), violations
