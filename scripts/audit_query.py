#!/usr/bin/env python3
"""Ask the local audit files the questions Athena answers in AWS.

Runs the Athena named queries of infrastructure/stacks/audit.yaml (or any SQL) with DuckDB over the
JSON lines the proxy writes with its file sink (`<dir>/log/spi|dict/year=/month=/day=/hour=/`). The
tables `spi` and `dict` have the Glue columns of the same template, and the partition columns year,
month, day, hour, so one query text serves both places.

    pip install duckdb pyyaml
    python3 scripts/audit_query.py --audit-dir target/pix-demo/audit --list
    python3 scripts/audit_query.py --audit-dir target/pix-demo/audit messages-by-end-to-end-id \
        --end-to-end-id E9999901020261125100000000000001
    python3 scripts/audit_query.py --audit-dir target/pix-demo/audit --sql "SELECT count(*) FROM spi"
"""
import argparse
import pathlib
import re
import sys

import duckdb
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infrastructure" / "stacks" / "audit.yaml"
# The literal the EndToEndId query carries in the template, replaced by --end-to-end-id.
SAMPLE_E2E = "E9999901020261125100000000000001"
DUCK_TYPES = {"string": "VARCHAR", "int": "INTEGER", "double": "DOUBLE", "array<string>": "VARCHAR[]"}


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping the values under intrinsic tags (!Ref, !Sub, …)."""


def _tagged(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CfnLoader.add_multi_constructor("!", _tagged)


def template():
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def named_queries(t=None):
    """Name → SQL of every AWS::Athena::NamedQuery in the template."""
    t = t or template()
    return {
        r["Properties"]["Name"]: r["Properties"]["QueryString"]
        for r in t["Resources"].values()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }


def columns(t=None):
    """(name, Glue type) of the SPI table, the same as the DICT table's (a test checks both)."""
    t = t or template()
    table = t["Resources"]["SpiTable"]["Properties"]["TableInput"]
    return [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


def connect(audit_dir):
    """A DuckDB connection with views `spi` and `dict` over the audit files under `audit_dir`."""
    db = duckdb.connect()
    # Athena (Trino) spells it approx_percentile; DuckDB approx_quantile.
    db.execute("CREATE MACRO approx_percentile(x, p) AS approx_quantile(x, p)")
    cols = columns()
    spec = "{" + ", ".join(f"'{n}': '{DUCK_TYPES[t]}'" for n, t in cols) + "}"
    for family in ("spi", "dict"):
        base = pathlib.Path(audit_dir) / "log" / family
        files = sorted(base.glob("year=*/month=*/day=*/hour=*/*.jsonl"))
        if files:
            paths = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
            db.execute(
                f"CREATE VIEW {family} AS SELECT * FROM read_json({paths}, format='newline_delimited', "
                f"columns={spec}, hive_partitioning=true, hive_types_autocast=false)"
            )
        else:
            fields = ", ".join(f"NULL::{DUCK_TYPES[t]} AS {n}" for n, t in cols)
            parts = ", ".join(f"NULL::VARCHAR AS {p}" for p in ("year", "month", "day", "hour"))
            db.execute(f"CREATE VIEW {family} AS SELECT {fields}, {parts} WHERE false")
    return db


def duckdb_sql(sql):
    """Athena's (Trino's) spelling of what DuckDB spells otherwise: `contains(array, x)`."""
    return re.sub(r"\bcontains\(", "list_contains(", sql)


def run(audit_dir, sql):
    """(column names, rows) of `sql` over the audit files."""
    cursor = connect(audit_dir).execute(duckdb_sql(sql))
    return [d[0] for d in cursor.description], cursor.fetchall()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--audit-dir", required=True, help="the file sink's directory (holds log/)")
    p.add_argument("--list", action="store_true", help="list the named queries")
    p.add_argument("--sql", help="run this SQL instead of a named query")
    p.add_argument("--end-to-end-id", help="for messages-by-end-to-end-id")
    p.add_argument("query", nargs="?", help="a named query of audit.yaml")
    a = p.parse_args(argv)
    queries = named_queries()
    if a.list:
        for name, sql in queries.items():
            print(f"{name}\n    {' '.join(sql.split())}\n")
        return 0
    if a.sql:
        sql = a.sql
    elif a.query in queries:
        sql = queries[a.query]
        if a.end_to_end_id:
            if not a.end_to_end_id.isalnum():
                p.error("--end-to-end-id: letters and digits only")
            sql = sql.replace(SAMPLE_E2E, a.end_to_end_id)
    else:
        p.error(f"name a query ({', '.join(queries)}) or give --sql")
    names, rows = run(a.audit_dir, sql)
    print("\t".join(names))
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
