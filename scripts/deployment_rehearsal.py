#!/usr/bin/env python3
"""The deployment rehearsal: the CloudHSM flavour as a bank deploys it, short of AWS itself.

1. The stacks of the Fargate flavour (network, audit, keys, certificates, hsm-fargate) go into
   moto's CloudFormation, in deploy.sh's order, each stack's outputs feeding the next. Resource
   types moto's CloudFormation does not implement are listed, left out of what moto deploys and
   checked by parsing instead (cfn-lint and our checkov policies, infrastructure/tests); the two
   the service cannot run without are made through their own APIs from the template's
   properties: the CloudHSM secret (Secrets Manager) and the audit delivery streams (Firehose).
2. The keys are made the way docs/deployment.md makes them: `proxy-hsm keygen` on the token
   (SoftHSMv2 standing in for the CloudHSM cluster), `proxy-hsm csr`, certificates issued by the
   dev PKI's PSP CA, then the certificates stack.
3. The container starts as the Dockerfile and the task definition (read back from moto's ECS)
   state it: the image's files where its COPY puts them, its user and directories as its RUN
   makes them, in an overlay of this machine's root (a private mount namespace, chroot), as the
   image's USER, in its WORKDIR, with its ENTRYPOINT and CMD (or the task's command), the task's
   environment and secrets, the task role's credentials (sts:AssumeRole in moto: what Fargate's
   credential endpoint hands the container), the spool volume where the task mounts it. AWS's
   CloudHSM client cannot be had here: SoftHSM's module sits where the client's library goes,
   and a stand-in `configure-pkcs11` checks its arguments and the customer CA (a mock: no real
   component exists outside AWS).
4. It carries a payment to the simulator; answers the container's health check (its command,
   run in the container) and the target group's (its port and path, read from moto's ELB);
   answers the load balancer's check with BACEN away; stops on SIGTERM within StopTimeout; a
   task killed with records undelivered (Firehose away) leaves them on the spool volume, and the
   next task delivers them.
5. Every AWS call the container made (moto's request recording) is checked against the task
   role's policies as deployed (iam:GetRolePolicy): action and resource ARN. A call the role
   does not allow fails the rehearsal.

Usage: deployment_rehearsal.py --bin target/debug --out target/deployment-rehearsal
Needs root (mount namespace, overlay, chroot), moto_server, softhsm2-util and openssl.
"""
import argparse
import ast
import base64
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
from cfnlint.decode import cfn_yaml
from moto.cloudformation.parsing import get_model_map

ROOT = pathlib.Path(__file__).resolve().parents[1]
INFRA = ROOT / "infrastructure"
REGION = "sa-east-1"
ENV = "rehearsal"
ISPB = "99999010"  # samples/pacs.008.xml's sender
SOFTHSM = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
                if os.path.exists(p)), None)
HSM_USER, HSM_PASSWORD = "crypto-user", "rehearsal-password"
UID = 10001

steps = []


def step(name, ok, detail=""):
    steps.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30, proc=None):
    end = time.time() + seconds
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- CloudFormation into moto


def load(stack):
    return json.loads(json.dumps(cfn_yaml.load(str(INFRA / "stacks" / f"{stack}.yaml"))))


def refs(node):
    """Logical ids a template fragment refers to (Ref, GetAtt, ${X} in Sub)."""
    found = set()
    if isinstance(node, dict):
        if "Ref" in node:
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Fn::Sub" in node:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
        for v in node.values():
            found |= refs(v)
    elif isinstance(node, list):
        for v in node:
            found |= refs(v)
    return found


def resolve(node, params):
    """Ref and Sub of parameters, for the properties of the resources the rehearsal makes itself."""
    if isinstance(node, dict):
        if "Ref" in node:
            return params[node["Ref"]]
        if "Fn::Sub" in node:
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(params[m.group(1)]), node["Fn::Sub"])
        return {k: resolve(v, params) for k, v in node.items()}
    return [resolve(v, params) for v in node] if isinstance(node, list) else node


class Deployer:
    def __init__(self, endpoint, out):
        kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="deployer", aws_secret_access_key="x")
        self.cf = boto3.client("cloudformation", **kw)
        self.secrets = boto3.client("secretsmanager", **kw)
        self.firehose = boto3.client("firehose", **kw)
        # moto's EFS models cannot answer GetAtt (Arn): made through EFS's API instead.
        self.supported = set(get_model_map()) - {"AWS::EFS::FileSystem", "AWS::EFS::AccessPoint"}
        self.efs = boto3.client("efs", **kw)
        self.outputs = {}
        self.out = out

    def deploy(self, stack, given):
        template = load(stack)
        declared = template.get("Parameters", {})
        params = {k: v for k, v in {**self.outputs, **given}.items() if k in declared}
        params.setdefault("Environment", ENV)
        values = {k: params.get(k, d.get("Default")) for k, d in declared.items()}
        values.update({"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::Partition": "aws"})
        resources = template["Resources"]
        left_out = {k for k, r in resources.items() if r["Type"] not in self.supported}
        # Made before the stack (secrets) or after it (delivery streams, which need its bucket).
        made = self.make(resources, left_out, values, after=False)
        # What refers to a resource left out (and not made first) is left out too.
        while True:
            more = {k for k, r in resources.items() if k not in left_out and refs(r) & (left_out - set(made))}
            if not more:
                break
            left_out |= more
        kept = {k: r for k, r in resources.items() if k not in left_out}
        # moto's CloudFormation takes a list parameter for a string (Select picks a character):
        # the rehearsal writes those lists into the template instead.
        lists = {k: str(values[k]).split(",") for k, d in declared.items()
                 if d["Type"] == "CommaDelimitedList" or d["Type"].startswith("List<")}
        kept = json.loads(json.dumps(kept), object_hook=lambda o: self.substitute(o, made, lists))
        outputs = {k: o for k, o in template.get("Outputs", {}).items() if not refs(o) & left_out}
        conditions = json.loads(json.dumps(template.get("Conditions", {})),
                                object_hook=lambda o: self.substitute(o, made, lists))
        body = dict(template, Resources=kept, Outputs=outputs, Conditions=conditions,
                    Parameters={k: v for k, v in declared.items() if k not in lists})
        params = {k: v for k, v in params.items() if k not in lists}
        name = f"pix-proxy-{ENV}-{stack}"
        (self.out / f"{stack}.template.json").write_text(json.dumps(body, indent=1))
        (self.out / f"{stack}.parameters.json").write_text(json.dumps(params, indent=1))
        self.cf.create_stack(StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_NAMED_IAM"],
                             Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
        status = self.cf.describe_stacks(StackName=name)["Stacks"][0]
        for o in status.get("Outputs") or []:
            self.outputs[o["OutputKey"]] = o["OutputValue"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                    for r in self.cf.list_stack_resources(StackName=name)["StackResourceSummaries"]}
        made.update(self.make(resources, left_out, values, after=True, physical=physical))
        for k, o in template.get("Outputs", {}).items():
            v = o["Value"]
            if k in outputs or not isinstance(v, dict):
                continue
            target, attr = (v["Ref"], "Ref") if "Ref" in v else tuple(v.get("Fn::GetAtt", [None, None]))
            if target in made:
                self.outputs[k] = made[target][attr]
        types = sorted({resources[k]["Type"] for k in left_out if k not in made})
        step(f"stack {stack} deployed into moto's CloudFormation", status["StackStatus"] == "CREATE_COMPLETE",
             f"{len(kept)} resources; made through their own APIs: {', '.join(sorted(made)) or 'none'}; "
             f"checked by parsing only: {', '.join(types) or 'none'}")

    def substitute(self, d, made, lists):
        if "Ref" in d and d["Ref"] in lists:
            return lists[d["Ref"]]
        if "Ref" in d and d["Ref"] in made:
            return made[d["Ref"]]["Ref"]
        if "Fn::GetAtt" in d and isinstance(d["Fn::GetAtt"], list) and d["Fn::GetAtt"][0] in made:
            return made[d["Fn::GetAtt"][0]][d["Fn::GetAtt"][1]]
        return d

    def make(self, resources, left_out, values, after, physical=None):
        """The resources the service needs that moto's CloudFormation cannot make: their own APIs."""
        made = {}
        for k in sorted(left_out):
            r = resources[k]
            if "Condition" in r and not self.condition(r["Condition"], values):
                continue
            p = r.get("Properties", {})
            if r["Type"] == "AWS::SecretsManager::Secret" and not after:
                arn = self.secrets.create_secret(Name=resolve(p["Name"], values),
                                                 SecretString=resolve(p["SecretString"], values))["ARN"]
                made[k] = {"Ref": arn}
            elif r["Type"] == "AWS::EFS::FileSystem" and not after:
                fs = self.efs.create_file_system(CreationToken=k, Encrypted=bool(p.get("Encrypted")),
                                                 PerformanceMode=p.get("PerformanceMode", "generalPurpose"))
                made[k] = {"Ref": fs["FileSystemId"], "Arn": fs["FileSystemArn"]}
            elif r["Type"] == "AWS::KinesisFirehose::DeliveryStream" and after:
                name = resolve(p["DeliveryStreamName"], values)
                dest = p["ExtendedS3DestinationConfiguration"]
                bucket = physical[dest["BucketARN"]["Fn::GetAtt"][0]]
                arn = self.firehose.create_delivery_stream(
                    DeliveryStreamName=name, DeliveryStreamType="DirectPut",
                    ExtendedS3DestinationConfiguration={
                        "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                        "BucketARN": f"arn:aws:s3:::{bucket}",
                        "Prefix": resolve(dest["Prefix"], values) if isinstance(dest.get("Prefix"), str) else "log/",
                        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
                    })["DeliveryStreamARN"]
                made[k] = {"Ref": name, "Arn": arn}
        for k in sorted(left_out):
            r = resources[k]
            if r["Type"] == "AWS::EFS::AccessPoint" and not after:
                p = r["Properties"]
                ap = self.efs.create_access_point(
                    FileSystemId=made[p["FileSystemId"]["Ref"]]["Ref"],
                    PosixUser={"Uid": int(p["PosixUser"]["Uid"]), "Gid": int(p["PosixUser"]["Gid"])},
                    RootDirectory={"Path": p["RootDirectory"]["Path"]})
                made[k] = {"Ref": ap["AccessPointId"], "Arn": ap["AccessPointArn"]}
        return made

    def condition(self, name, values):
        conditions = {"Kms": values.get("Flavour") == "kms", "CloudHsm": values.get("Flavour") == "cloudhsm"}
        return conditions.get(name, True)


# ---------------------------------------------------------------- the image, as its Dockerfile says


def dockerfile():
    """The final stage of the proxy's Dockerfile: user, workdir, entrypoint, cmd, copies, dirs."""
    text = (INFRA / "docker" / "proxy-hsm.Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    final = text.split("\nFROM ")[-1]
    image = {"copies": [], "dirs": [], "user": None, "workdir": "/", "entrypoint": [], "cmd": []}
    for line in final.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "USER":
            image["user"] = rest.strip()
        elif word == "WORKDIR":
            image["workdir"] = rest.strip()
        elif word in ("ENTRYPOINT", "CMD"):
            image[word.lower()] = json.loads(rest)
        elif word == "COPY":
            args = rest.split()
            image["copies"].append((args[0].startswith("--from"), args[-2], args[-1]))
        elif word == "RUN":
            for m in re.finditer(r"useradd ([^&]*)", rest):
                uid = re.search(r"--uid (\d+)", m.group(1))
                image["uid"] = int(uid.group(1))
                image["username"] = m.group(1).split()[-1]
            for m in re.finditer(r"install -d ((?:-[og] \S+ )*)([^&]*)", rest):
                image["dirs"] += m.group(2).split()
    return image


class Container:
    """A task's container, started as its image and task definition state it, outside an engine."""

    def __init__(self, out, image, task, env, binaries, token_dir, spool):
        self.out, self.image, self.task, self.env = out, image, task, env
        self.binaries, self.token_dir, self.spool = binaries, token_dir, spool
        self.root = out / "rootfs"
        self.proc = None

    def prepare(self):
        """The image's layer, written into an overlay's upper directory."""
        upper = self.out / "layer"
        shutil.rmtree(upper, ignore_errors=True)
        for d in (upper, self.out / "work"):
            d.mkdir(parents=True, exist_ok=True)
        for from_build, src, dst in self.image["copies"]:
            if "cloudhsm-pkcs11" in src:
                continue  # AWS's CloudHSM client package: stood in for below.
            source = self.binaries / pathlib.Path(src).name if from_build else ROOT / src
            target = upper / dst.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        uid, user = self.image["uid"], self.image["username"]
        etc = upper / "etc"
        etc.mkdir(exist_ok=True)
        for name, line in (("passwd", f"{user}:x:{uid}:{uid}::/var/lib/{user}:/usr/sbin/nologin\n"),
                           ("group", f"{user}:x:{uid}:\n")):
            (etc / name).write_text(pathlib.Path(f"/etc/{name}").read_text() + line)
        for d in self.image["dirs"]:
            path = upper / d.lstrip("/")
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, uid, uid)
        # Stand-ins for the CloudHSM client: SoftHSM's module where the client's library goes, and
        # a configure-pkcs11 that checks what the start gives it (mock: not available outside AWS).
        lib = upper / "opt/cloudhsm/lib"
        lib.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOFTHSM, lib / "libcloudhsm_pkcs11.so")
        tool = upper / "opt/cloudhsm/bin/configure-pkcs11"
        tool.parent.mkdir(parents=True, exist_ok=True)
        tool.write_text("#!/bin/sh\n# Stand-in for AWS's configure-pkcs11 (deployment rehearsal).\nset -eu\n"
                        '[ "$1" = --cluster-id ] && [ -n "$2" ] && [ "$3" = --region ] && [ -n "$4" ] '
                        '|| { echo "configure-pkcs11: unexpected arguments: $*" >&2; exit 2; }\n'
                        "grep -q 'BEGIN CERTIFICATE' /opt/cloudhsm/etc/customerCA.crt "
                        "|| { echo 'configure-pkcs11: no customer CA' >&2; exit 2; }\n"
                        'echo "$*" > /opt/cloudhsm/etc/configured\n')
        tool.chmod(0o755)
        conf = upper / "etc/softhsm/softhsm2.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f"directories.tokendir = {self.token_dir}\nobjectstore.backend = file\n")
        self.root.mkdir(exist_ok=True)

    def command(self):
        c = self.task
        argv = self.image["entrypoint"] + (c.get("command") or self.image["cmd"])
        user = c.get("user") or self.image["user"]
        uid = self.image["uid"] if user == self.image["username"] else int(user)
        workdir = c.get("workingDirectory") or self.image["workdir"]
        mounts = [f"mount --bind {self.spool} {self.root}{m['containerPath']}" for m in c.get("mountPoints", [])]
        script = " && ".join([
            f"mount -t overlay overlay -o lowerdir=/,upperdir={self.out}/layer,workdir={self.out}/work {self.root}",
            f"mount -t proc proc {self.root}/proc",
            f"mount --rbind /dev {self.root}/dev",
            *mounts,
            f"exec chroot {self.root} setpriv --reuid {uid} --regid {uid} --clear-groups "
            f"sh -c 'cd {workdir} && exec \"$@\"' container " + " ".join(f"'{a}'" for a in argv),
        ])
        return ["unshare", "--mount", "--fork", "sh", "-c", script]

    def start(self, log):
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self.proc

    def exec(self, argv):
        """A command inside the running container (its health check): its mount namespace, root
        and working directory, as `docker exec` would run it."""
        inside = [p.name for p in pathlib.Path("/proc").iterdir() if p.name.isdigit()
                  and int(p.name) != self.proc.pid and is_child(int(p.name), self.proc.pid)]
        if not inside:
            return subprocess.CompletedProcess(argv, 1, "", "the container runs no process")
        return subprocess.run(["nsenter", "-t", inside[0], "-m", "-r", "-w", *argv], capture_output=True, text=True)

    def stop(self, sig=signal.SIGTERM, timeout=None):
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None


def is_child(pid, ancestor):
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


# ---------------------------------------------------------------- the role allows every call


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


# ---------------------------------------------------------------- the rehearsal


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="target/debug", type=pathlib.Path)
    ap.add_argument("--out", default="target/deployment-rehearsal", type=pathlib.Path)
    a = ap.parse_args()
    out, binaries = a.out.resolve(), a.bin.resolve()
    subprocess.run(["umount", "-R", str(out / "rootfs")], capture_output=True)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.chmod(out, 0o755)
    if SOFTHSM is None:
        sys.exit("deployment rehearsal: SoftHSMv2 (softhsm2) is not installed")
    procs = []
    try:
        rehearse(out, binaries, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = [s for s in steps if not s[1]]
    print(f"DEPLOYMENT REHEARSAL {'PASSED' if not failed else 'FAILED'}: {len(steps)} steps, {len(failed)} failed")
    (out / "steps.json").write_text(json.dumps(steps, indent=1))
    return 1 if failed else 0


def rehearse(out, binaries, procs):
    proxy = binaries / "proxy-hsm"
    # AWS: moto's server, every request recorded.
    port = free_port()
    moto_env = dict(os.environ, MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=str(out / "moto-recording.jsonl"))
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=moto_env,
                            stdout=subprocess.DEVNULL, stderr=open(out / "moto.log", "w"))
    procs.append(moto)
    if not step("moto's server", wait_port(port, proc=moto)):
        return
    endpoint = f"http://127.0.0.1:{port}"

    # BACEN: the simulator with its dev PKI.
    pki = out / "pki"
    run(binaries / "simulator", "pki", "--out", pki)
    spi, dict_, check, key_check, control = (free_port() for _ in range(5))

    # The keys on the token, made with the tool (docs/deployment.md, step "Keys").
    tokens = out / "tokens"
    tokens.mkdir()
    conf = out / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    hsm_env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    run("softhsm2-util", "--init-token", "--free", "--label", "pix-rehearsal", "--so-pin", "12345678",
        "--pin", f"{HSM_USER}:{HSM_PASSWORD}", env=hsm_env)
    secret = out / "hsm-secret.json"
    secret.write_text(json.dumps({"HSM_USER": HSM_USER, "HSM_PASSWORD": HSM_PASSWORD}))
    certs = {}
    for label, client in (("pix-signature", False), ("pix-mtls", True)):
        token = ["--label", label, "--module", SOFTHSM, "--secret", secret]
        run(proxy, "keygen", *token, env=hsm_env)
        csr = run(proxy, "csr", *token, "--subject", f"CN={label}.rehearsal.banco.example,O=Banco Exemplo,C=BR",
                  env=hsm_env).stdout
        (out / f"{label}.csr").write_text(csr)
        ext = out / f"{label}.ext"
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       + ("extendedKeyUsage=clientAuth\n" if client else ""))
        run("openssl", "x509", "-req", "-in", out / f"{label}.csr", "-CA", pki / "psp-ca.cer", "-CAkey",
            pki / "psp-ca.key", "-CAcreateserial", "-days", "365", "-sha256", "-extfile", ext,
            "-out", out / f"{label}.cer")
        certs[label] = (out / f"{label}.cer").read_text()
    step("keys made on the token by proxy-hsm keygen, certified from proxy-hsm csr", True)
    for p in (tokens, *tokens.rglob("*")):
        os.chown(p, UID, UID)

    schemas = ROOT.parent / "shared/fixtures/xsd"
    sim = subprocess.Popen([str(binaries / "simulator"), "serve", "--pki", str(pki), "--spi-port", str(spi),
                            "--dict-port", str(dict_), "--dict-key-check-port", str(key_check),
                            "--check-port", str(control),
                            "--participant", f"{ISPB}:{out / 'pix-mtls.cer'}:{out / 'pix-signature.cer'}",
                            *(["--schemas", str(schemas)] if schemas.is_dir() else [])],
                           stdout=open(out / "simulator.log", "w"), stderr=subprocess.STDOUT)
    procs.append(sim)
    if not step("BACEN's simulator", wait_port(spi, proc=sim) and wait_port(dict_, proc=sim)):
        return

    # The stacks, in deploy.sh's order.
    d = Deployer(endpoint, out)
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="deployer", aws_secret_access_key="x")
    ec2, sm = boto3.client("ec2", **kw), boto3.client("secretsmanager", **kw)
    d.deploy("network", {"EnableNat": "true"})
    d.deploy("audit", {"AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms"})
    d.deploy("keys", {"Flavour": "cloudhsm", "HsmUser": HSM_USER, "HsmPassword": HSM_PASSWORD,
                      "CloudHSMClusterId": "cluster-rehearsal0", "CloudHSMCustomerCA": (pki / "bacen-ca.cer").read_text(),
                      "SignatureKeyLabel": "pix-signature", "MtlsKeyLabel": "pix-mtls",
                      "BcbSpiEndpoint": f"127.0.0.1:{spi}", "BcbDictEndpoint": f"127.0.0.1:{dict_}",
                      "BcbDictKeyCheckEndpoint": f"127.0.0.1:{key_check}"})
    d.deploy("certificates", {"Flavour": "cloudhsm", "SignatureCertificate": certs["pix-signature"],
                              "MtlsCertificate": certs["pix-mtls"],
                              "BcbSignatureCertificate": (pki / "bacen-sig.cer").read_text(),
                              "BcbMtlsCertificate": (pki / "bacen-ca.cer").read_text()})
    d.outputs["CloudHsmSecretArn"] = sm.describe_secret(SecretId="/pix/proxy/cloudhsm/CloudHSMSecret")["ARN"]
    d.deploy("hsm-fargate", {"ImageUri": "123456789012.dkr.ecr.sa-east-1.amazonaws.com/pix-proxy-hsm:rehearsal",
                             "CloudHsmSecurityGroupId": ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"],
                             "AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms",
                             "DesiredCount": "1"})

    # The task as ECS has it, and its role's credentials.
    ecs, elb, iam, sts = (boto3.client(s, **kw) for s in ("ecs", "elbv2", "iam", "sts"))
    family = f"pix-proxy-{ENV}-hsm"
    task = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    container = task["containerDefinitions"][0]
    # moto's CloudFormation registers the task definition without its TaskRoleArn: the role is
    # the stack's TaskRole, which the template names as the task's.
    role_name = next(r["PhysicalResourceId"] for r in d.cf.list_stack_resources(StackName=f"pix-proxy-{ENV}-hsm-fargate")
                     ["StackResourceSummaries"] if r["LogicalResourceId"] == "TaskRole")
    role_arn = task.get("taskRoleArn") or iam.get_role(RoleName=role_name.split("/")[-1])["Role"]["Arn"]
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="ecs-task")["Credentials"]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           # What Fargate gives every task: its region and its role's credentials; the VPC
           # endpoints' private DNS names are moto here.
           "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
           "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
           "AWS_SESSION_TOKEN": creds["SessionToken"], "RUST_LOG": "info"}
    env.update({e["name"]: e["value"] for e in container.get("environment", [])})
    for s in container.get("secrets", []):
        env[s["name"]] = sm.get_secret_value(SecretId=s["valueFrom"])["SecretString"]
    image = dockerfile()
    stop_timeout = int(container.get("stopTimeout", 30))
    step("the task definition's stop timeout covers the drain (30 s) and the audit flush (10 s)",
         stop_timeout >= 40, f"StopTimeout {stop_timeout} s")
    # moto's CloudFormation keeps the task's volumes without their EFS configuration: read
    # the volume from the template it deployed.
    deployed = json.loads((out / "hsm-fargate.template.json").read_text())
    volumes = {v["Name"]: {"efsVolumeConfiguration": {k[0].lower() + k[1:]: w for k, w in v["EFSVolumeConfiguration"].items()}}
               for v in deployed["Resources"]["TaskDefinition"]["Properties"].get("Volumes", [])
               if "EFSVolumeConfiguration" in v}
    spool_mounts = [m for m in container.get("mountPoints", []) if m["containerPath"] == "/var/lib/pix/spool"]
    efs = spool_mounts and volumes.get(spool_mounts[0]["sourceVolume"], {}).get("efsVolumeConfiguration")
    step("the audit spool is on EFS (encrypted in transit, through its access point)",
         bool(efs) and efs.get("transitEncryption") == "ENABLED", json.dumps(efs or {}))
    cmd = container.get("command") or image["cmd"]
    step("the command serves on every interface from AWS's configuration with the spool on the volume",
         "--from-aws" in cmd and "0.0.0.0" in cmd and "/var/lib/pix/spool" in cmd, " ".join(cmd))

    spool = out / "efs-audit-spool"  # stands in for the EFS access point (uid 10001)
    spool.mkdir()
    os.chown(spool, UID, UID)
    box = Container(out, image, container, env, binaries, tokens, spool)
    box.prepare()
    for path in ("/usr/local/bin/proxy-hsm", "/usr/local/bin/proxy-hsm-entrypoint.sh"):
        f = out / "layer" / path.lstrip("/")
        step(f"the image holds {path}, executable", f.exists() and os.access(f, os.X_OK))
    step("the image's user and directories", image.get("uid") == UID and image["user"] == image.get("username")
         and all(d in image["dirs"] for d in ("/var/lib/pix", "/var/lib/pix/spool", "/opt/cloudhsm/etc")),
         f"user {image['user']} ({image.get('uid')}), dirs {image['dirs']}")

    log = open(out / "task-1.log", "w")
    box.start(log)
    health_port = 7070
    up = wait_port(health_port, 60, box.proc)
    if not step("the container starts as shipped (entrypoint, command, user, workdir, environment)", up,
                (out / "task-1.log").read_text()[-2000:] if not up else ""):
        return
    configured = (out / "layer/opt/cloudhsm/etc/configured")
    step("the entrypoint configured the CloudHSM client for the cluster in SSM",
         configured.exists() and "cluster-rehearsal0" in configured.read_text())

    hc = container["healthCheck"]["command"]
    shell = hc[1] if hc[0] == "CMD-SHELL" else " ".join(hc[1:])
    r = box.exec(["sh", "-c", shell])
    step("the container's health check, as the task definition runs it", r.returncode == 0, shell)
    groups = elb.describe_target_groups()["TargetGroups"]
    checks = {(g["HealthCheckPort"], g["HealthCheckPath"]) for g in groups}
    for hport, path in sorted(checks):
        status, body = http("GET", f"http://127.0.0.1:{hport}{path}")
        step(f"the load balancer's health check (port {hport}, {path})", status == 200, body.decode(errors="replace")[:200])

    pacs008 = (ROOT / "samples/pacs.008.xml").read_bytes()
    status, body = http("POST", f"http://127.0.0.1:9090/api/v1/in/{ISPB}/msgs", pacs008,
                        {"Content-Type": "application/xml"})
    step("a payment: the pacs.008 signed with the token's key and taken by BACEN", status == 201,
         f"{status} {body[:300].decode(errors='replace')}")

    # BACEN away: the load balancer's check stays 200, nothing is recycled.
    sim.terminate()
    sim.wait()
    for hport, path in sorted(checks):
        status, _ = http("GET", f"http://127.0.0.1:{hport}{path}")
        step(f"with BACEN unreachable the load balancer's check ({path}) still answers 200", status == 200)
    status, _ = http("GET", f"http://127.0.0.1:{health_port}/bacen")
    step("with BACEN unreachable /bacen says so (503)", status == 503)
    sim = subprocess.Popen(sim.args, stdout=open(out / "simulator-2.log", "w"), stderr=subprocess.STDOUT)
    procs.append(sim)
    wait_port(spi, proc=sim)

    # SIGTERM: drains, flushes, exits before ECS's SIGKILL.
    started = time.time()
    code = box.stop(signal.SIGTERM, timeout=stop_timeout)
    took = time.time() - started
    step("SIGTERM: the task stops by itself within StopTimeout", code == 0, f"exit {code} after {took:.1f} s")

    # A task killed with records undelivered: Firehose away, a payment, SIGKILL.
    fh = boto3.client("firehose", **kw)
    streams = fh.list_delivery_streams()["DeliveryStreamNames"]
    saved = {s: fh.describe_delivery_stream(DeliveryStreamName=s)["DeliveryStreamDescription"] for s in streams}
    for s in streams:
        fh.delete_delivery_stream(DeliveryStreamName=s)
    box.start(open(out / "task-2.log", "w"))
    wait_port(9090, 60, box.proc)
    status, body = http("POST", f"http://127.0.0.1:9090/api/v1/in/{ISPB}/msgs",
                        pacs008.replace(b"E9999901", b"E9999902"), {"Content-Type": "application/xml"})
    box.stop(signal.SIGKILL)
    spooled = [l for f in spool.rglob("*.jsonl") for l in f.read_text().splitlines() if l.strip()]
    step("Firehose away: the killed task's records stay on the spool volume", status == 201 and len(spooled) > 0,
         f"{len(spooled)} records spooled")
    for s, desc in saved.items():
        dest = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
        fh.create_delivery_stream(DeliveryStreamName=s, DeliveryStreamType="DirectPut",
                                  ExtendedS3DestinationConfiguration={"RoleARN": dest["RoleARN"], "BucketARN": dest["BucketARN"],
                                                                      "Prefix": dest.get("Prefix", "")})
    box.start(open(out / "task-3.log", "w"))
    wait_port(health_port, 60, box.proc)
    end = time.time() + 30
    left = None
    while time.time() < end:
        left = sum(1 for f in spool.rglob("*.jsonl") for l in f.read_text().splitlines() if l.strip())
        if left == 0:
            break
        time.sleep(0.5)
    s3 = boto3.client("s3", **kw)
    bucket = d.outputs.get("AuditBucketName")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] if bucket else []
    step("the next task delivers what the killed one left", left == 0 and len(keys) > 0,
         f"{left} records left on the spool, {len(keys)} objects in s3://{bucket}")
    box.stop(signal.SIGTERM, timeout=stop_timeout)

    # Every call the container made, against the task role's policies as deployed.
    role = role_arn.split("/")[-1]
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):  # moto keeps a CloudFormation-made policy as Python's repr
            doc = json.loads(doc) if doc.lstrip().startswith('{"') else ast.literal_eval(doc)
        statements += doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    secrets = {s["Name"]: s["ARN"] for s in sm.list_secrets()["SecretList"]}
    calls = calls_by(out / "moto-recording.jsonl", creds["AccessKeyId"])
    denied = sorted({c for c in calls if not allowed(statements, c[0], c[1], secrets)})
    made = sorted({c[0] for c in calls})
    step("every AWS call of the container is allowed by the task role", bool(calls) and not denied,
         f"{len(calls)} calls ({', '.join(made)}); denied: {denied or 'none'}")
    unexpected = sorted(set(made) - {"ssm:GetParametersByPath", "secretsmanager:GetSecretValue",
                                     "firehose:PutRecordBatch", "firehose:PutRecord"})
    step("the container calls nothing the rehearsal does not know", not unexpected, str(unexpected))


if __name__ == "__main__":
    sys.exit(main())
