"""Every AWS call a process made (moto's request recording), against the policies of the role whose
credentials signed it: action and resource ARN. (moto's own IAM enforcement cannot check
resource-scoped policies for SSM, Secrets Manager, KMS or Firehose: it evaluates them against
`*`.)"""
import ast
import base64
import json
import re

from .common import REGION


def calls_by(recording, access_key):
    """(action, resource ARN) of each request signed with `access_key` in moto's recording."""
    found = []
    for line in recording.read_text().splitlines():
        r = json.loads(line)
        h = {k.lower(): v for k, v in r["headers"].items()}
        if f"Credential={access_key}/" not in h.get("authorization", ""):
            continue
        body = base64.b64decode(r["body"]) if r.get("body_encoded") else (r.get("body") or "").encode()
        target = h.get("x-amz-target", "")
        payload = json.loads(body or b"{}") if target else {}
        service, action = {"AmazonSSM": "ssm", "secretsmanager": "secretsmanager", "Firehose_20150804": "firehose",
                           "TrentService": "kms"}.get(target.split(".")[0], "?"), target.split(".")[-1]
        arn = {
            "GetParametersByPath": lambda: f"arn:aws:ssm:{REGION}:123456789012:parameter{payload.get('Path')}",
            "GetParameter": lambda: f"arn:aws:ssm:{REGION}:123456789012:parameter{payload.get('Name')}",
            "GetSecretValue": lambda: payload.get("SecretId"),
            "PutRecordBatch": lambda: f"arn:aws:firehose:{REGION}:123456789012:deliverystream/{payload.get('DeliveryStreamName')}",
            "PutRecord": lambda: f"arn:aws:firehose:{REGION}:123456789012:deliverystream/{payload.get('DeliveryStreamName')}",
            "Sign": lambda: payload.get("KeyId"),
            "GetPublicKey": lambda: payload.get("KeyId"),
        }.get(action, lambda: "*")()
        found.append((f"{service}:{action}", arn))
    return found


def allowed(statements, action, resource, secrets):
    def match(pattern, value):
        return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), value, re.I) is not None

    for s in statements:
        if s.get("Effect") != "Allow":
            continue
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if any(match(a, action) for a in actions):
            # A secret is named by name or ARN; the policy names its ARN.
            candidates = {resource, secrets.get(resource, resource)}
            if any(match(r, c) for r in resources for c in candidates):
                return True
    return False


def role_statements(iam, role_name):
    """The statements of every inline policy of a role, as deployed."""
    statements = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):  # moto keeps a CloudFormation-made policy as Python's repr
            doc = json.loads(doc) if doc.lstrip().startswith('{"') else ast.literal_eval(doc)
        statements += doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    return statements


def denied_calls(iam, secretsmanager, role_name, recording, access_key):
    """Every call signed with `access_key` in moto's recording, and those the role's policies as
    deployed do not allow: (calls, denied)."""
    statements = role_statements(iam, role_name)
    secrets = {s["Name"]: s["ARN"] for s in secretsmanager.list_secrets()["SecretList"]}
    calls = calls_by(recording, access_key)
    return calls, sorted({c for c in calls if not allowed(statements, c[0], c[1], secrets)})
