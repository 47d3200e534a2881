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
from .iam import denied_calls

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
    """Every step of the flavour, in the order an operator meets them; stops where one it needs fails."""
    out.mkdir(parents=True, exist_ok=True)
    endpoint = start_moto(out, procs)
    if endpoint is None:
        return
    r = Rehearsal(out, binaries, procs, endpoint)
    r.deploy_stacks()
    if not step("BACEN's simulator", r.bacen.start(procs)):
        return
    r.deploy_function()
    if not r.start_function():
        return
    r.check_payment()
    r.check_role()
    r.check_release_and_rollback()


class Rehearsal:
    """The flavour's rehearsal: what each step leaves for the next."""

    def __init__(self, out, binaries, procs, endpoint):
        self.out, self.binaries, self.procs, self.endpoint = out, binaries, procs, endpoint
        self.kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="deployer",
                       aws_secret_access_key="x")
        self.s3, self.lam = self.client("s3"), self.client("lambda")
        self.pki = out / "pki"
        run(binaries / "simulator", "pki", "--out", self.pki)
        # BACEN's ports are known before the keys stack; the simulator starts once the signature
        # key is certified (it hosts the sender with that certificate).
        self.bacen = Bacen(binaries, out, self.pki, self.pki / "psp-mtls.cer", out / "kms-signature.cer")
        self.function = f"pix-proxy-{ENV}-spi"

    def client(self, service):
        return boto3.client(service, **self.kw)

    def deploy_stacks(self):
        """network, audit, keys; the signature key certified from proxy-kms csr; certificates."""
        out, pki, endpoint = self.out, self.pki, self.endpoint
        d = self.deployer = Deployer(endpoint, out)
        d.deploy("network", {"EnableNat": "false"})
        d.deploy("audit", {"AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms"})
        d.deploy("keys", {"Flavour": "kms", "MtlsPrivateKey": (pki / "psp-mtls.key").read_text(),
                          "OperatorRoleArns": "arn:aws:iam::123456789012:role/pix-operator",
                          "Callers": json.dumps({"callers": [{"name": "payments", "principal": CALLER_ROLE,
                                                              "allow": {"spi-send": [ISPB]}}]}),
                          **self.bacen.endpoints()})
        # The operator makes the signature key's certificate request with the tool; the PSP CA certifies it.
        csr = run(self.binaries / "proxy-kms", "csr", "--key-id", d.outputs["SignatureKeyArn"], "--subject",
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

    def deploy_function(self):
        """The code artefact in a versioned bucket; the stack names it by object version."""
        s3, lam = self.s3, self.lam
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.first = artefact(self.binaries / "proxy-kms", "1")
        self.v1 = s3.put_object(Bucket=BUCKET, Key=KEY, Body=self.first)["VersionId"]
        self.deployer.deploy("kms-lambda", {"CodeBucket": BUCKET, "CodeKey": KEY, "CodeObjectVersion": self.v1,
                                            "SpiCallerPrincipalArns": CALLER_ROLE, "DictCallerPrincipalArns": CALLER_ROLE,
                                            "AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms"})
        self.live = lam.get_alias(FunctionName=self.function, Name="live")
        self.config = lam.get_function_configuration(FunctionName=self.function, Qualifier=self.live["FunctionVersion"])
        step("the alias live points at the version of this artefact", self.config["CodeSha256"] == sha(self.first),
             f"version {self.live['FunctionVersion']}")

    def start_function(self):
        """The function as Lambda starts it: the artefact unpacked as /var/task, its handler under
        the runtime API emulator, with the environment, memory and role as deployed."""
        out, config = self.out, self.config
        task = out / "var-task"
        code = self.s3.get_object(Bucket=BUCKET, Key=KEY, VersionId=self.v1)["Body"].read()
        zipfile.ZipFile(io.BytesIO(code)).extractall(task)
        handler = task / config["Handler"]
        handler.chmod(0o755)
        self.creds = creds = self.client("sts").assume_role(RoleArn=config["Role"], RoleSessionName="lambda")["Credentials"]
        port = free_port()
        emulator = subprocess.Popen(["cargo-lambda", "lambda", "watch", "--only-lambda-apis", "--invoke-address",
                                     "127.0.0.1", "--invoke-port", str(port)], cwd=ROOT / "proxy-kms",
                                    stdout=subprocess.DEVNULL, stderr=open(out / "emulator.log", "w"))
        self.procs.append(emulator)
        if not step("the runtime API emulator", wait_port(port, 60, emulator)):
            return False
        env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(task), "_HANDLER": config["Handler"],
               "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt", "AWS_LAMBDA_FUNCTION_NAME": self.function,
               "AWS_LAMBDA_FUNCTION_VERSION": self.live["FunctionVersion"],
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
               "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": self.endpoint,
               "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
               "AWS_SESSION_TOKEN": creds["SessionToken"], **config["Environment"]["Variables"]}
        self.fn = subprocess.Popen([str(handler)], cwd=task, env=env, stdout=open(out / "function.log", "w"),
                                   stderr=subprocess.STDOUT)
        self.procs.append(self.fn)
        self.invoke = f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
        step("the function's environment and memory as deployed", env.get("PIX_SPI_PROXY") == "true"
             and config["MemorySize"] == 1024 and config["Handler"] == "bootstrap",
             f"{config['Handler']}, {config['MemorySize']} MB, {config['Environment']['Variables']}")
        return True

    def check_payment(self):
        """A payment from the policy's IAM principal through the function; an event without one refused."""
        pacs008 = (ROOT / "samples/pacs.008.xml").read_text()
        json_type = {"Content-Type": "application/json"}
        answer, deadline = None, time.time() + 60
        while time.time() < deadline and self.fn.poll() is None:
            status, body = http("POST", self.invoke, rest_event(f"/api/v1/in/{ISPB}/msgs", pacs008), json_type)
            if status == 200:
                answer = json.loads(body)
                break
            time.sleep(0.5)
        step("a payment from the policy's IAM principal through the function: signed with the KMS key, taken by BACEN",
             answer is not None and answer.get("statusCode") == 201,
             json.dumps(answer)[:300] if answer else (self.out / "function.log").read_text()[-1500:])
        status, body = http("POST", self.invoke, rest_event(f"/api/v1/in/{ISPB}/msgs", pacs008, caller=None), json_type)
        refused = json.loads(body) if status == 200 else {}
        step("an event without an IAM identity is refused (401)", refused.get("statusCode") == 401,
             json.dumps(refused)[:300] if refused else f"{status}")
        self.fn.terminate()
        self.fn.wait()

    def check_role(self):
        """Every call the function made, against its role's policies as deployed."""
        calls, denied = denied_calls(self.client("iam"), self.client("secretsmanager"),
                                     self.config["Role"].split("/")[-1], self.out / "moto-recording.jsonl",
                                     self.creds["AccessKeyId"])
        step("every AWS call of the function is allowed by its role", bool(calls) and not denied,
             f"{len(calls)} calls ({', '.join(sorted({c[0] for c in calls}))}); denied: {denied or 'none'}")

    def check_release_and_rollback(self):
        """A release, as the stack's update makes it (new code, a version published, the alias
        moved), then the rollback docs/lambda.md gives: the alias moved back."""
        lam, function, live = self.lam, self.function, self.live
        second = artefact(self.binaries / "proxy-kms", "2")
        v2 = self.s3.put_object(Bucket=BUCKET, Key=KEY, Body=second)["VersionId"]
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
             and lam.get_function_configuration(FunctionName=function, Qualifier=back)["CodeSha256"] == sha(self.first),
             f"version {back}")
