"""The KMS flavour as deployed: its stacks (the signature key certified from `proxy-kms csr`), its
code artefact from a versioned bucket, the function started as Lambda starts it — the artefact
the alias `live` points at, unpacked, its handler run under the runtime API emulator (`cargo
lambda watch`) with the function's environment, memory and role as deployed — a payment through
it, its role against every call it made, and a release and its rollback with the documented
commands."""
import base64
import hashlib
import io
import json
import os
import subprocess
import time
import zipfile

import boto3

from .cloudformation import Deployer
from .common import ENV, ISPB, REGION, ROOT, Bacen, free_port, http, run, start_moto, step, wait_port
from .iam import allowed, calls_by, role_statements

BUCKET = f"pix-proxy-{ENV}-artifacts"
KEY = "pix-proxy/proxy-kms/bootstrap.zip"


def artefact(binary, release):
    """The code artefact as `cargo lambda build --output-format zip` lays it out: `bootstrap`,
    executable, at the root (plus a marker, so that two releases differ)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, binary.read_bytes())
        z.writestr("RELEASE", release)
    return buffer.getvalue()


def sha(data):
    """Lambda's CodeSha256: the base64 SHA-256 of the artefact."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# The bank's service that calls the API (SigV4 as this role; the stack's resource policy names it).
CALLER_ROLE = "arn:aws:iam::123456789012:role/pix-bank-payments"
CALLER_SESSION = "arn:aws:sts::123456789012:assumed-role/pix-bank-payments/rehearsal"


def rest_event(path, body, caller=CALLER_SESSION):
    """An API Gateway REST (v1) proxy event, as the private API hands the function a request that
    API Gateway authenticated (AWS_IAM) as `caller` (None: no identity)."""
    identity = {"sourceIp": "10.40.0.25", **({"userArn": caller} if caller else {})}
    return json.dumps({
        "resource": "/{proxy+}", "path": path, "httpMethod": "POST",
        "headers": {"Content-Type": "application/xml; charset=utf-8"},
        "multiValueHeaders": {"Content-Type": ["application/xml; charset=utf-8"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "POST", "path": f"/v1{path}",
                           "accountId": "123456789012", "stage": "v1", "requestId": "rehearsal",
                           "identity": identity, "apiId": "rehearsal"},
        "body": body, "isBase64Encoded": False,
    }).encode()


def rehearse(out, binaries, procs):
    out.mkdir(parents=True, exist_ok=True)
    endpoint = start_moto(out, procs)
    if endpoint is None:
        return
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="deployer", aws_secret_access_key="x")
    s3, lam, iam, sts = (boto3.client(s, **kw) for s in ("s3", "lambda", "iam", "sts"))
    pki = out / "pki"
    run(binaries / "simulator", "pki", "--out", pki)

    d = Deployer(endpoint, out)
    d.deploy("network", {"EnableNat": "false"})
    d.deploy("audit", {"AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms"})
    # BACEN's ports are known before the keys stack; the simulator starts once the signature
    # key is certified (it hosts the sender with that certificate).
    bacen = Bacen(binaries, out, pki, pki / "psp-mtls.cer", out / "kms-signature.cer")
    d.deploy("keys", {"Flavour": "kms", "MtlsPrivateKey": (pki / "psp-mtls.key").read_text(),
                      "OperatorRoleArns": "arn:aws:iam::123456789012:role/pix-operator",
                      "Callers": json.dumps({"callers": [{"name": "payments", "principal": CALLER_ROLE,
                                                          "allow": {"spi-send": [ISPB]}}]}),
                      **bacen.endpoints()})
    # The operator makes the signature key's certificate request with the tool; the PSP CA certifies it.
    csr = run(binaries / "proxy-kms", "csr", "--key-id", d.outputs["SignatureKeyArn"], "--subject",
              "CN=spi.rehearsal.banco.example,O=Banco Exemplo,C=BR", "--aws-endpoint", endpoint,
              env=dict(os.environ, AWS_REGION=REGION, AWS_ACCESS_KEY_ID="deployer", AWS_SECRET_ACCESS_KEY="x")).stdout
    (out / "kms-signature.csr").write_text(csr)
    run("openssl", "x509", "-req", "-in", out / "kms-signature.csr", "-CA", pki / "psp-ca.cer", "-CAkey",
        pki / "psp-ca.key", "-CAcreateserial", "-days", "365", "-sha256", "-out", out / "kms-signature.cer")
    step("the KMS key's request made by proxy-kms csr and certified", True)
    d.deploy("certificates", {"Flavour": "kms", "SignatureCertificate": (out / "kms-signature.cer").read_text(),
                              "MtlsCertificate": (pki / "psp-mtls.cer").read_text(),
                              "BcbSignatureCertificate": (pki / "bacen-sig.cer").read_text(),
                              "BcbMtlsCertificate": (pki / "bacen-ca.cer").read_text()})
    if not step("BACEN's simulator", bacen.start(procs)):
        return

    # The code artefact, in a versioned bucket; the stack names it by object version.
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = artefact(binaries / "proxy-kms", "1")
    v1 = s3.put_object(Bucket=BUCKET, Key=KEY, Body=first)["VersionId"]
    d.deploy("kms-lambda", {"CodeBucket": BUCKET, "CodeKey": KEY, "CodeObjectVersion": v1,
                            "SpiCallerPrincipalArns": CALLER_ROLE, "DictCallerPrincipalArns": CALLER_ROLE,
                            "AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms"})
    function = f"pix-proxy-{ENV}-spi"
    live = lam.get_alias(FunctionName=function, Name="live")
    config = lam.get_function_configuration(FunctionName=function, Qualifier=live["FunctionVersion"])
    step("the alias live points at the version of this artefact", config["CodeSha256"] == sha(first),
         f"version {live['FunctionVersion']}")

    # The function as Lambda starts it: the artefact unpacked as /var/task, its handler.
    task = out / "var-task"
    zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=KEY, VersionId=v1)["Body"].read())).extractall(task)
    handler = task / config["Handler"]
    handler.chmod(0o755)
    creds = sts.assume_role(RoleArn=config["Role"], RoleSessionName="lambda")["Credentials"]
    port = free_port()
    emulator = subprocess.Popen(["cargo-lambda", "lambda", "watch", "--only-lambda-apis", "--invoke-address",
                                 "127.0.0.1", "--invoke-port", str(port)], cwd=ROOT / "proxy-kms",
                                stdout=subprocess.DEVNULL, stderr=open(out / "emulator.log", "w"))
    procs.append(emulator)
    if not step("the runtime API emulator", wait_port(port, 60, emulator)):
        return
    env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(task), "_HANDLER": config["Handler"],
           "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt", "AWS_LAMBDA_FUNCTION_NAME": function,
           "AWS_LAMBDA_FUNCTION_VERSION": live["FunctionVersion"],
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
           "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
           "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
           "AWS_SESSION_TOKEN": creds["SessionToken"], **config["Environment"]["Variables"]}
    fn = subprocess.Popen([str(handler)], cwd=task, env=env, stdout=open(out / "function.log", "w"),
                          stderr=subprocess.STDOUT)
    procs.append(fn)
    step("the function's environment and memory as deployed", env.get("PIX_SPI_PROXY") == "true"
         and config["MemorySize"] == 1024 and config["Handler"] == "bootstrap",
         f"{config['Handler']}, {config['MemorySize']} MB, {config['Environment']['Variables']}")

    pacs008 = (ROOT / "samples/pacs.008.xml").read_text()
    invoke = f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
    answer = None
    deadline = time.time() + 60
    while time.time() < deadline and fn.poll() is None:
        status, body = http("POST", invoke, rest_event(f"/api/v1/in/{ISPB}/msgs", pacs008),
                            {"Content-Type": "application/json"})
        if status == 200:
            answer = json.loads(body)
            break
        time.sleep(0.5)
    step("a payment from the policy's IAM principal through the function: signed with the KMS key, taken by BACEN",
         answer is not None and answer.get("statusCode") == 201,
         json.dumps(answer)[:300] if answer else (out / "function.log").read_text()[-1500:])
    status, body = http("POST", invoke, rest_event(f"/api/v1/in/{ISPB}/msgs", pacs008, caller=None),
                        {"Content-Type": "application/json"})
    refused = json.loads(body) if status == 200 else {}
    step("an event without an IAM identity is refused (401)", refused.get("statusCode") == 401,
         json.dumps(refused)[:300] if refused else f"{status}")
    fn.terminate()
    fn.wait()

    statements = role_statements(iam, config["Role"].split("/")[-1])
    calls = calls_by(out / "moto-recording.jsonl", creds["AccessKeyId"])
    secrets = {x["Name"]: x["ARN"] for x in boto3.client("secretsmanager", **kw).list_secrets()["SecretList"]}
    denied = sorted({c for c in calls if not allowed(statements, c[0], c[1], secrets)})
    step("every AWS call of the function is allowed by its role", bool(calls) and not denied,
         f"{len(calls)} calls ({', '.join(sorted({c[0] for c in calls}))}); denied: {denied or 'none'}")

    # A release, as the stack's update makes it (new code, a version published, the alias moved),
    # then the rollback docs/lambda.md gives: the alias moved back to the previous version.
    second = artefact(binaries / "proxy-kms", "2")
    v2 = s3.put_object(Bucket=BUCKET, Key=KEY, Body=second)["VersionId"]
    lam.update_function_code(FunctionName=function, S3Bucket=BUCKET, S3Key=KEY, S3ObjectVersion=v2)
    released = lam.publish_version(FunctionName=function, Description=f"code s3://{BUCKET}/{KEY}?versionId={v2}")
    lam.update_alias(FunctionName=function, Name="live", FunctionVersion=released["Version"])
    now = lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"]
    step("a release publishes a new version and moves live to it",
         now != live["FunctionVersion"]
         and lam.get_function_configuration(FunctionName=function, Qualifier=now)["CodeSha256"] == sha(second),
         f"version {now}")
    # docs/lambda.md: aws lambda update-alias --function-name F --name live --function-version PREVIOUS
    lam.update_alias(FunctionName=function, Name="live", FunctionVersion=live["FunctionVersion"])
    back = lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"]
    step("the rollback puts live back on the previous version and its artefact",
         back == live["FunctionVersion"]
         and lam.get_function_configuration(FunctionName=function, Qualifier=back)["CodeSha256"] == sha(first),
         f"version {back}")
