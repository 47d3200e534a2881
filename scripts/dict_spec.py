#!/usr/bin/env python3
"""DICT's OpenAPI as the test: every DICT request and answer in audit records, checked against the
schema DICT's OpenAPI (2.12.1, ``openapi.json``) gives its operation.

    python3 scripts/dict_spec.py OPENAPI_JSON AUDIT_DIR [AUDIT_DIR ...]

Each audit record of the DICT family names the request (method, path) and holds the bytes sent to
DICT (``request_body``) and DICT's answer (``response_status_code``, ``response_body``). The
operation is found by method and path template under its server (``/api/v2/`` or, for
``checkKeys``, ``/api-np/v2/``); the request body is checked against the operation's request
schema, the answer against the schema of its status. Checked: the root element, element names
(nothing the schema does not name), required elements, enumerations, patterns, lengths, formats
(date-time, uuid) and types. XML follows the OpenAPI's examples: an object is an element of its
properties; an array property is an element holding one element per item, named by the item's
schema; ``xml.attribute`` properties are attributes; ``Signature`` is ``ds:Signature`` with any
content (the XML-DSig profile checks it).

Exits 1 naming every violation (operation, record, path in the document, rule); 0 when none.
"""

import json
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

DSIG = "{http://www.w3.org/2000/09/xmldsig#}"
PROBLEM = "{urn:ietf:rfc:7807}"
SERVERS = ("/api/v2", "/api-np/v2")


class Spec:
    """The OpenAPI document: its operations, schemas and error catalog."""

    def __init__(self, doc):
        self.doc = doc
        # The error types and their statuses, from the table of errors in `info.description`.
        self.errors = {
            code: int(status)
            for code, status in re.findall(
                r"<code>([A-Za-z]+)</code>\s*</td>\s*<td>(\d+)</td>", doc["info"].get("description", "")
            )
        }
        self.schemas = doc["components"]["schemas"]
        self.responses = doc["components"].get("responses", {})
        self.operations = []
        for template, ops in doc["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            for method, op in ops.items():
                if method in ("get", "post", "put", "delete", "patch"):
                    self.operations.append((method.upper(), re.compile(pattern), template, op))

    def operation(self, method, path):
        """The operation of ``method path`` (path without the server's root and the query)."""
        for m, pattern, template, op in self.operations:
            if m == method and pattern.match(path):
                return template, op
        return None, None

    def resolve(self, schema):
        """A schema with its ``$ref`` followed; the name of the referenced schema, if any."""
        name = None
        while "$ref" in schema:
            name = schema["$ref"].split("/")[-1]
            schema = self.schemas[name]
        return schema, name

    def merged(self, schema):
        """An object schema with its ``allOf`` parts merged."""
        schema, _ = self.resolve(schema)
        if "allOf" not in schema:
            return schema
        out = {k: v for k, v in schema.items() if k != "allOf"}
        props, required = dict(out.get("properties", {})), list(out.get("required", []))
        for part in schema["allOf"]:
            part = self.merged(part)
            for k, v in part.items():
                if k == "properties":
                    props.update(v)
                elif k == "required":
                    required += v
                elif k not in out:
                    out[k] = v
        if props:
            out["properties"] = props
        if required:
            out["required"] = required
        return out

    def body_schema(self, holder):
        """The XML schema of a request body or response (``application/xml`` or problem+xml)."""
        if holder is None:
            return None
        if "$ref" in holder:
            holder = self.responses.get(holder["$ref"].split("/")[-1], holder)
        content = holder.get("content", {})
        for media in ("application/xml", "application/problem+xml"):
            if media in content:
                return content[media].get("schema")
        return None


def local(tag):
    return tag.split("}", 1)[-1]


def check_value(spec, schema, text, where, out):
    schema = spec.merged(schema)
    kind = schema.get("type", "string")
    if "enum" in schema and text not in schema["enum"]:
        out.append(f"{where}: '{text}' is not one of {schema['enum']}")
        return
    if kind == "boolean" and text not in ("true", "false"):
        out.append(f"{where}: '{text}' is not a boolean")
    elif kind == "integer" and not re.fullmatch(r"-?[0-9]+", text):
        out.append(f"{where}: '{text}' is not an integer")
    elif kind == "number" and not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
        out.append(f"{where}: '{text}' is not a number")
    if "pattern" in schema:
        # The OpenAPI's patterns are ECMA-style; `(?i)` at the start is the one inline flag used.
        pattern = schema["pattern"]
        flags = 0
        if pattern.startswith("^(?i)"):
            pattern, flags = "^" + pattern[5:], re.IGNORECASE
        if not re.search(pattern, text, flags):
            out.append(f"{where}: '{text}' does not match {schema['pattern']}")
    if "maxLength" in schema and len(text) > schema["maxLength"]:
        out.append(f"{where}: longer than {schema['maxLength']}")
    if "minLength" in schema and len(text) < schema["minLength"]:
        out.append(f"{where}: shorter than {schema['minLength']}")
    fmt = schema.get("format")
    if fmt == "date-time" and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text):
        out.append(f"{where}: '{text}' is not a date-time")
    if fmt == "uuid" and not re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", text):
        out.append(f"{where}: '{text}' is not a UUID")
    if fmt == "date" and not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        out.append(f"{where}: '{text}' is not a date")


def item_name(spec, items, fallback):
    """The element name of an array's items: the item schema's `xml.name` (its own or an `allOf`
    part's), else the schema's name."""
    _, name = spec.resolve(items)
    return spec.merged(items).get("xml", {}).get("name") or name or fallback


def check_element(spec, schema, element, where, out):
    """``element`` against ``schema`` (an object, array, scalar, or a choice of them)."""
    raw, _ = spec.resolve(schema)
    for choice in ("oneOf", "anyOf"):
        if choice in raw:
            tries = []
            for option in raw[choice]:
                found = []
                check_element(spec, option, element, where, found)
                if not found:
                    return
                tries.append(found)
            out.append(f"{where}: matches none of its {choice} options ({min(tries, key=len)[0] if tries else ''})")
            return
    schema = spec.merged(schema)
    kind = schema.get("type") or ("object" if "properties" in schema else "string")
    props = schema.get("properties", {})
    attributes = {
        k for k, v in props.items() if spec.merged(v).get("xml", {}).get("attribute") or v.get("xml", {}).get("attribute")
    }
    for name in attributes:
        value = element.get(name)
        if value is not None:
            check_value(spec, props[name], value, f"{where}/@{name}", out)
    if kind == "object":
        if not props:
            return  # a free-form object (e.g. the signature)
        seen = {}
        for child in element:
            name = local(child.tag)
            if child.tag.startswith(DSIG) and name == "Signature" and "Signature" in props:
                seen["Signature"] = seen.get("Signature", 0) + 1
                continue
            if name not in props or name in attributes:
                out.append(f"{where}/{name}: not an element of this schema")
                continue
            seen[name] = seen.get(name, 0) + 1
            check_element(spec, props[name], child, f"{where}/{name}", out)
        for name, count in seen.items():
            prop = spec.resolve(props.get(name, {}))[0]
            if count > 1 and prop.get("type") != "array":
                out.append(f"{where}/{name}: {count} times, once at most")
        for name in schema.get("required", []):
            if name == "Signature":
                continue  # checked by the signature profile, and absent from unsigned requests
            if name in attributes:
                if element.get(name) is None:
                    out.append(f"{where}/@{name}: required, missing")
            elif name not in seen:
                out.append(f"{where}/{name}: required, missing")
    elif kind == "array":
        items = schema.get("items", {})
        expected = item_name(spec, items, None)
        children = list(element)
        for i, child in enumerate(children):
            if expected and local(child.tag) != expected:
                out.append(f"{where}/{local(child.tag)}: an item is <{expected}>")
                continue
            check_element(spec, items, child, f"{where}/{local(child.tag)}[{i + 1}]", out)
        if "minItems" in schema and len(children) < schema["minItems"]:
            out.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(children) > schema["maxItems"]:
            out.append(f"{where}: more than {schema['maxItems']} items")
    else:
        if len(element):
            out.append(f"{where}: a value, not elements")
            return
        check_value(spec, schema, (element.text or ""), where, out)


def check_document(spec, schema, body, out, what):
    """A whole body against the schema of its operation: its root element, then its content."""
    _, name = spec.resolve(schema)
    expected = spec.merged(schema).get("xml", {}).get("name") or name
    try:
        root = ET.fromstring(body.encode("utf-8"))
    except ET.ParseError as e:
        out.append(f"{what}: not XML ({e})")
        return
    if expected and local(root.tag) != expected:
        out.append(f"{what}: root <{local(root.tag)}>, the OpenAPI's is <{expected}>")
        return
    check_element(spec, schema, root, f"{what}:{local(root.tag)}", out)


def check_record(spec, record):
    """The violations of one audit record's request and answer."""
    out = []
    method = record["request_method"]
    full = record["request_path"].split("?", 1)[0]
    server = next((s for s in SERVERS if full.startswith(s + "/")), None)
    if server is None:
        return [f"{method} {full}: under none of DICT's servers {SERVERS}"]
    template, op = spec.operation(method, full[len(server):])
    if op is None:
        return [f"{method} {full}: no such operation in the OpenAPI"]
    name = op.get("operationId", template)
    status = str(record["response_status_code"])
    if record.get("request_body") and method in ("POST", "PUT"):
        schema = spec.body_schema(op.get("requestBody"))
        if schema is None:
            out.append(f"{name}: a request body the OpenAPI does not define")
        else:
            check_document(spec, schema, record["request_body"], out, f"{name} request")
    responses = op.get("responses", {})
    if status not in responses:
        out.append(f"{name}: status {status} is not among the OpenAPI's {sorted(responses)}")
    elif record.get("response_body"):
        schema = spec.body_schema(responses[status])
        if schema is not None:
            check_document(spec, schema, record["response_body"], out, f"{name} {status}")
    if record.get("response_body") and int(status) >= 400:
        check_error_type(spec, record["response_body"], int(status), out, f"{name} {status}")
    return out


def check_error_type(spec, body, status, out, what):
    """A problem document's `type` is one of the OpenAPI's error types, with its status."""
    try:
        root = ET.fromstring(body.encode("utf-8"))
    except ET.ParseError:
        return
    kind = next((c.text or "" for c in root if local(c.tag) == "type"), "")
    code = kind.rsplit("/", 1)[-1]
    if code not in spec.errors:
        out.append(f"{what}: error type '{code}' is not among the OpenAPI's")
    elif spec.errors[code] != status:
        out.append(f"{what}: error type {code} is answered {spec.errors[code]}, not {status}")


def records(dirs):
    for d in dirs:
        for path in sorted(pathlib.Path(d).glob("log/dict/**/*.jsonl")):
            for line in path.read_text().splitlines():
                if line.strip():
                    yield json.loads(line)


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    spec = Spec(json.loads(pathlib.Path(argv[1]).read_text()))
    total, failures = 0, []
    for record in records(argv[2:]):
        total += 1
        for v in check_record(spec, record):
            failures.append(f"{record['request_id']}: {v}")
    for f in failures:
        print(f)
    print(f"DICT spec check: {total} exchanges, {len(failures)} violations")
    return 1 if failures or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
