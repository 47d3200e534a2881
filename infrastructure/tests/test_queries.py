"""The Athena named queries of audit.yaml, run locally with DuckDB (scripts/audit_query.py) over audit
files laid out as the proxy's file sink writes them: the same SQL answers the same questions."""
import importlib.util
import json
import os

import pytest

from conftest import ROOT

if os.environ.get("PIX_REQUIRE_TOOLS") != "1":
    pytest.importorskip("duckdb", reason="pip install duckdb (bash .ci/run installs it)")
spec = importlib.util.spec_from_file_location("audit_query", ROOT.parent / "scripts" / "audit_query.py")
audit_query = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit_query)

E2E = "E9999901020261125100000000000007"
OTHER, E2E_B, E2E_C = (f"E0000000120261125100000000000{i}" for i in (101, 102, 103))


def record(i, hour, **fields):
    r = {name: [] if ty.startswith("array") else "" for name, ty in audit_query.columns()}
    r.update(
        request_id=f"{i:032x}",
        request_date=f"2026-11-25T{hour:02d}:00:{i % 60:02d}.000Z",
        request_method="POST",
        response_status_code=201,
        response_signature_valid="true",
        message_type="pacs.008",
        biz_msg_idr=None,
        end_to_end_id=None,
        latency_ms=float(i % 100 + 1),
    )
    r.update(fields)
    return r


def write(root, family, records):
    for r in records:
        hour = r["request_date"][11:13]
        d = root / "log" / family / "year=2026" / "month=11" / "day=25" / f"hour={hour}"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "records.jsonl", "a") as f:
            f.write(json.dumps(r) + "\n")


@pytest.fixture
def audit_dir(tmp_path):
    spi = [record(i, 10) for i in range(100)] + [record(100 + i, 11) for i in range(10)]
    spi[5].update(end_to_end_id=E2E, end_to_end_ids=[E2E], request_date="2026-11-25T10:00:30.000Z")
    # Received: a pacs.002 read from the stream names the payment as OrgnlEndToEndId.
    spi[7].update(
        request_method="GET", message_type="", message_types=["pacs.002"], end_to_end_ids=[E2E],
        request_date="2026-11-25T10:00:10.000Z",
    )
    # Received: a pacs.008 of three transactions read from the stream.
    spi[9].update(request_method="GET", message_types=["pacs.008"], end_to_end_ids=[OTHER, E2E_B, E2E_C])
    spi[8]["response_signature_valid"] = "false"
    spi[105]["response_signature_valid"] = "false"
    dict_ = [record(200 + i, 11, message_type="CreateEntryRequest") for i in range(3)]
    dict_[0]["response_signature_valid"] = "false"
    write(tmp_path, "spi", spi)
    write(tmp_path, "dict", dict_)
    return tmp_path


def test_every_named_query_runs_locally(audit_dir):
    queries = audit_query.named_queries()
    assert {"messages-by-end-to-end-id", "failed-signatures-per-hour", "latency-percentiles-per-hour"} <= set(queries)
    for name, sql in queries.items():
        audit_query.run(audit_dir, sql)  # raises on SQL DuckDB cannot run


def test_messages_of_one_payment_in_order(audit_dir, capsys):
    audit_query.main(["--audit-dir", str(audit_dir), "messages-by-end-to-end-id", "--end-to-end-id", E2E])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("request_date\trequest_id\trequest_method\tmessage_types")
    assert [l.split("\t")[2] for l in lines[1:]] == ["GET", "POST"], "ordered by request_date"


def test_a_received_batch_is_found_by_each_end_to_end_id(audit_dir):
    sql = audit_query.named_queries()["messages-by-end-to-end-id"]
    for e2e in (OTHER, E2E_B, E2E_C):
        _, rows = audit_query.run(audit_dir, sql.replace(audit_query.SAMPLE_E2E, e2e))
        assert len(rows) == 1 and rows[0][2] == "GET", e2e


def test_failed_signatures_per_family_and_hour(audit_dir):
    _, rows = audit_query.run(audit_dir, audit_query.named_queries()["failed-signatures-per-hour"])
    assert rows == [
        ("spi", "2026", "11", "25", "10", 1),
        ("dict", "2026", "11", "25", "11", 1),
        ("spi", "2026", "11", "25", "11", 1),
    ]


def test_latency_percentiles_per_hour(audit_dir):
    names, rows = audit_query.run(audit_dir, audit_query.named_queries()["latency-percentiles-per-hour"])
    assert names == ["year", "month", "day", "hour", "messages", "p50_ms", "p95_ms", "p99_ms"]
    by_hour = {r[3]: r for r in rows}
    assert by_hour["10"][4] == 100 and by_hour["11"][4] == 10
    p50, p95, p99 = by_hour["10"][5:]
    assert 45 <= p50 <= 56 and 90 <= p95 <= 97 and 95 <= p99 <= 100


def test_a_family_without_files_is_an_empty_table(tmp_path):
    write(tmp_path, "spi", [record(1, 9)])
    _, rows = audit_query.run(tmp_path, "SELECT count(*) FROM dict")
    assert rows == [(0,)]


def test_bad_input_is_refused(audit_dir):
    with pytest.raises(SystemExit):
        audit_query.main(["--audit-dir", str(audit_dir), "messages-by-end-to-end-id", "--end-to-end-id", "x' OR 1=1"])
    with pytest.raises(SystemExit):
        audit_query.main(["--audit-dir", str(audit_dir), "no-such-query"])
