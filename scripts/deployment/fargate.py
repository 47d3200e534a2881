"""The CloudHSM flavour as deployed: its stacks, its keys made by the tool, its container started
as shipped, a payment, its health checks, its spool across tasks, its role."""
import json
import os
import signal
import time

import boto3

from .cloudformation import Deployer
from .common import (ENV, HSM_PASSWORD, HSM_USER, ISPB, REGION, ROOT, SOFTHSM, UID, Bacen, caller_tls, http, run,
                     start_moto, step, wait_port)
from .iam import denied_calls
from .image import Container, dockerfile


def rehearse(out, binaries, procs):
    """Every step of the flavour, in the order an operator meets them; stops where one it needs fails."""
    endpoint = start_moto(out, procs)
    if endpoint is None:
        return
    r = Rehearsal(out, binaries, procs, endpoint)
    r.make_keys()
    if not step("BACEN's simulator", r.bacen.start(procs)):
        return
    r.deploy_stacks()
    r.read_task()
    r.check_task_definition()
    r.check_image()
    if not r.start_task():
        return
    r.check_health()
    r.check_callers()
    r.check_failover()
    r.check_bacen_away()
    r.check_sigterm()
    r.check_spool_replay()
    r.check_role()


class Rehearsal:
    """The flavour's rehearsal: what each step leaves for the next (moto, the PKI, the stacks'
    outputs, the task as ECS has it, the container)."""

    def __init__(self, out, binaries, procs, endpoint):
        self.out, self.binaries, self.procs, self.endpoint = out, binaries, procs, endpoint
        self.proxy = binaries / "proxy-hsm"
        self.pki = out / "pki"
        run(binaries / "simulator", "pki", "--out", self.pki)
        self.kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="deployer",
                       aws_secret_access_key="x")
        self.bacen = Bacen(binaries, out, self.pki, out / "pix-mtls.cer", out / "pix-signature.cer")
        self.pacs008 = (ROOT / "samples/pacs.008.xml").read_bytes()
        self.msgs = f"https://127.0.0.1:9090/api/v1/in/{ISPB}/msgs"
        self.xml = {"Content-Type": "application/xml"}
        self.health_port = 7070

    def client(self, service):
        return boto3.client(service, **self.kw)

    def pay(self, body=None, caller="caller"):
        """A payment from the bank's service holding `caller`'s certificate (None: none)."""
        return http("POST", self.msgs, body or self.pacs008, self.xml, caller_tls(self.pki, caller))

    def make_keys(self):
        """The keys on the token, made with the tool (docs/deployment.md, step "Keys")."""
        out, pki = self.out, self.pki
        self.tokens = out / "tokens"
        self.tokens.mkdir()
        conf = out / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {self.tokens}\nobjectstore.backend = file\n")
        hsm_env = dict(os.environ, SOFTHSM2_CONF=str(conf))
        run("softhsm2-util", "--init-token", "--free", "--label", "pix-rehearsal", "--so-pin", "12345678",
            "--pin", f"{HSM_USER}:{HSM_PASSWORD}", env=hsm_env)
        secret = out / "hsm-secret.json"
        secret.write_text(json.dumps({"HSM_USER": HSM_USER, "HSM_PASSWORD": HSM_PASSWORD}))
        self.certs = {}
        for label, client in (("pix-signature", False), ("pix-mtls", True)):
            token = ["--label", label, "--module", SOFTHSM, "--secret", secret]
            run(self.proxy, "keygen", *token, env=hsm_env)
            csr = run(self.proxy, "csr", *token, "--subject", f"CN={label}.rehearsal.banco.example,O=Banco Exemplo,C=BR",
                      env=hsm_env).stdout
            (out / f"{label}.csr").write_text(csr)
            ext = out / f"{label}.ext"
            ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                           + ("extendedKeyUsage=clientAuth\n" if client else ""))
            run("openssl", "x509", "-req", "-in", out / f"{label}.csr", "-CA", pki / "psp-ca.cer", "-CAkey",
                pki / "psp-ca.key", "-CAcreateserial", "-days", "365", "-sha256", "-extfile", ext,
                "-out", out / f"{label}.cer")
            self.certs[label] = (out / f"{label}.cer").read_text()
        step("keys made on the token by proxy-hsm keygen, certified from proxy-hsm csr", True)
        for p in (self.tokens, *self.tokens.rglob("*")):
            os.chown(p, UID, UID)

    def deploy_stacks(self):
        """The stacks, in deploy.sh's order."""
        pki = self.pki
        d = self.deployer = Deployer(self.endpoint, self.out)
        ec2, sm = self.client("ec2"), self.client("secretsmanager")
        d.deploy("network", {"EnableNat": "true"})
        d.deploy("audit", {"AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms"})
        d.deploy("keys", {"Flavour": "cloudhsm", "HsmUser": HSM_USER, "HsmPassword": HSM_PASSWORD,
                          "CloudHSMClusterId": "cluster-rehearsal0", "CloudHSMCustomerCA": (pki / "bacen-ca.cer").read_text(),
                          "SignatureKeyLabel": "pix-signature", "MtlsKeyLabel": "pix-mtls",
                          "ProxyTlsPrivateKey": (pki / "proxy-tls.key").read_text(),
                          "Callers": json.dumps({"callers": [{"name": "payments", "san": "pagamentos.banco.internal",
                                                              "allow": {"spi-send": [ISPB], "spi-stream": [ISPB]}}]}),
                          **self.bacen.endpoints()})
        d.deploy("certificates", {"Flavour": "cloudhsm", "SignatureCertificate": self.certs["pix-signature"],
                                  "MtlsCertificate": self.certs["pix-mtls"],
                                  "BcbSignatureCertificate": (pki / "bacen-sig.cer").read_text(),
                                  "BcbMtlsCertificate": (pki / "bacen-ca.cer").read_text(),
                                  # The bank's internal CA and the proxy's server certificate for its services.
                                  "CallerCaCertificate": (pki / "bank-ca.cer").read_text(),
                                  "ProxyTlsCertificate": (pki / "proxy-tls.cer").read_text()})
        d.outputs["ProxyTlsPrivateKeySecretArn"] = sm.describe_secret(SecretId="/pix/proxy/cloudhsm/ProxyTlsPrivateKey")["ARN"]
        d.outputs["CloudHsmSecretArn"] = sm.describe_secret(SecretId="/pix/proxy/cloudhsm/CloudHSMSecret")["ARN"]
        d.deploy("hsm-fargate", {"ImageUri": "123456789012.dkr.ecr.sa-east-1.amazonaws.com/pix-proxy-hsm:rehearsal",
                                 "CloudHsmSecurityGroupId": ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"],
                                 "AlarmTopicArn": "arn:aws:sns:sa-east-1:123456789012:pix-proxy-rehearsal-alarms",
                                 "DesiredCount": "1"})

    def read_task(self):
        """The task as ECS has it, and its role's credentials."""
        ecs, iam, sts, sm = (self.client(s) for s in ("ecs", "iam", "sts", "secretsmanager"))
        family = f"pix-proxy-{ENV}-hsm"
        task = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        self.container = task["containerDefinitions"][0]
        # moto's CloudFormation registers the task definition without its TaskRoleArn: the role is
        # the stack's TaskRole, which the template names as the task's.
        resources = self.deployer.cf.list_stack_resources(StackName=f"pix-proxy-{ENV}-hsm-fargate")
        role_name = next(r["PhysicalResourceId"] for r in resources["StackResourceSummaries"]
                         if r["LogicalResourceId"] == "TaskRole")
        self.role_arn = task.get("taskRoleArn") or iam.get_role(RoleName=role_name.split("/")[-1])["Role"]["Arn"]
        self.creds = sts.assume_role(RoleArn=self.role_arn, RoleSessionName="ecs-task")["Credentials"]
        creds = self.creds
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               # What Fargate gives every task: its region and its role's credentials; the VPC
               # endpoints' private DNS names are moto here.
               "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": self.endpoint,
               "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
               "AWS_SESSION_TOKEN": creds["SessionToken"], "RUST_LOG": "info"}
        env.update({e["name"]: e["value"] for e in self.container.get("environment", [])})
        for s in self.container.get("secrets", []):
            env[s["name"]] = sm.get_secret_value(SecretId=s["valueFrom"])["SecretString"]
        self.env = env
        self.image = dockerfile()
        self.stop_timeout = int(self.container.get("stopTimeout", 30))

    def check_task_definition(self):
        """What the task definition and the load balancer say the task does."""
        container, image, elb = self.container, self.image, self.client("elbv2")
        step("the task definition's stop timeout covers the drain (30 s) and the audit flush (10 s)",
             self.stop_timeout >= 40, f"StopTimeout {self.stop_timeout} s")
        efs = spool_volume(json.loads((self.out / "hsm-fargate.template.json").read_text()), container)
        step("the audit spool is on EFS (encrypted in transit, through its access point)",
             bool(efs) and efs.get("transitEncryption") == "ENABLED", json.dumps(efs or {}))
        cmd = container.get("command") or image["cmd"]
        step("the command serves on every interface from AWS's configuration with the spool on the volume",
             "--from-aws" in cmd and "0.0.0.0" in cmd and "/var/lib/pix/spool" in cmd, " ".join(cmd))
        step("the command refuses to serve callers it cannot authenticate", "--require-client-ca" in cmd, " ".join(cmd))
        listeners = [l for lb in elb.describe_load_balancers()["LoadBalancers"]
                     for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]]
        step("the load balancer passes TLS through to the proxy (TCP listeners)",
             bool(listeners) and all(l["Protocol"] == "TCP" for l in listeners),
             ", ".join(f"{l['Port']}/{l['Protocol']}" for l in listeners))

    def check_image(self):
        """The image's layer as its Dockerfile writes it."""
        out, image = self.out, self.image
        self.spool = out / "efs-audit-spool"  # stands in for the EFS access point (uid 10001)
        self.spool.mkdir()
        os.chown(self.spool, UID, UID)
        self.box = Container(out, image, self.container, self.env, self.binaries, self.tokens, self.spool)
        self.box.prepare()
        for path in ("/usr/local/bin/proxy-hsm", "/usr/local/bin/proxy-hsm-entrypoint.sh"):
            f = out / "layer" / path.lstrip("/")
            step(f"the image holds {path}, executable", f.exists() and os.access(f, os.X_OK))
        step("the image's user and directories", image.get("uid") == UID and image["user"] == image.get("username")
             and all(d in image["dirs"] for d in ("/var/lib/pix", "/var/lib/pix/spool", "/opt/cloudhsm/etc")),
             f"user {image['user']} ({image.get('uid')}), dirs {image['dirs']}")

    def start_task(self):
        """The container started as shipped; whether it came up."""
        log = open(self.out / "task-1.log", "w")
        self.box.start(log)
        up = wait_port(self.health_port, 60, self.box.proc)
        if not step("the container starts as shipped (entrypoint, command, user, workdir, environment)", up,
                    (self.out / "task-1.log").read_text()[-2000:] if not up else ""):
            return False
        configured = self.out / "layer/opt/cloudhsm/etc/configured"
        step("the entrypoint configured the CloudHSM client for the cluster in SSM",
             configured.exists() and "cluster-rehearsal0" in configured.read_text())
        return True

    def check_health(self):
        """The container's and the load balancer's health checks, as they run them."""
        hc = self.container["healthCheck"]["command"]
        shell = hc[1] if hc[0] == "CMD-SHELL" else " ".join(hc[1:])
        r = self.box.exec(["sh", "-c", shell])
        step("the container's health check, as the task definition runs it", r.returncode == 0, shell)
        groups = self.client("elbv2").describe_target_groups()["TargetGroups"]
        self.checks = {(g["HealthCheckPort"], g["HealthCheckPath"]) for g in groups}
        for hport, path in sorted(self.checks):
            status, body = http("GET", f"http://127.0.0.1:{hport}{path}")
            step(f"the load balancer's health check (port {hport}, {path})", status == 200,
                 body.decode(errors="replace")[:200])

    def check_callers(self):
        """A payment from an allowed service; the callers without a certificate or permission refused."""
        status, body = self.pay()
        step("a payment from the bank's service (client certificate of its CA): signed with the token's key, taken by BACEN",
             status == 201, f"{status} {body[:300].decode(errors='replace')}")
        status, body = self.pay(caller=None)
        step("a caller without a client certificate is refused in the handshake", status is None,
             f"{status} {body[:200].decode(errors='replace')}")
        status, body = self.pay(caller="payee-caller")
        step("a service of the bank's CA outside the callers policy: 403 naming the permission",
             status == 403 and b"spi-send" in body, f"{status} {body[:300].decode(errors='replace')}")

    def check_failover(self):
        """ICOM's primary channel down: after BcbFailoverSeconds (2 s here) the task sends on the
        secondary channel (gzip'd, which the simulator requires there), and comes back."""
        bacen, log = self.bacen, self.out / "task-1.log"
        before = bacen.secondary_requests()
        bacen.primary(False)
        status, body, deadline = None, b"", time.time() + 30
        while status != 201 and time.time() < deadline:
            status, body = self.pay()
            time.sleep(0.3)
        step("ICOM's primary channel down: the payment goes on the secondary channel (BcbSpiSecondaryEndpoint)",
             status == 201 and bacen.secondary_requests() > before and '"metric":"ChannelFailover"' in log.read_text(),
             f"{status} {body[:200].decode(errors='replace')}")
        bacen.primary(True)
        deadline = time.time() + 30
        while '"metric":"ChannelRestored"' not in log.read_text() and time.time() < deadline:
            self.pay()
            time.sleep(0.5)
        time.sleep(1)
        quiet = bacen.secondary_requests()
        status, _ = self.pay()
        step("the primary back: the task returns to it", status == 201 and bacen.secondary_requests() == quiet
             and '"metric":"ChannelRestored"' in log.read_text())

    def check_bacen_away(self):
        """BACEN away: the load balancer's check stays 200, nothing is recycled."""
        self.bacen.stop()
        for hport, path in sorted(self.checks):
            status, _ = http("GET", f"http://127.0.0.1:{hport}{path}")
            step(f"with BACEN unreachable the load balancer's check ({path}) still answers 200", status == 200)
        status, _ = http("GET", f"http://127.0.0.1:{self.health_port}/bacen")
        step("with BACEN unreachable /bacen says so (503)", status == 503)
        self.bacen.start(self.procs)

    def check_sigterm(self):
        """SIGTERM: drains, flushes, exits before ECS's SIGKILL."""
        started = time.time()
        code = self.box.stop(signal.SIGTERM, timeout=self.stop_timeout)
        took = time.time() - started
        step("SIGTERM: the task stops by itself within StopTimeout", code == 0, f"exit {code} after {took:.1f} s")

    def check_spool_replay(self):
        """A task killed with records undelivered (Firehose away, a payment, SIGKILL); the next
        task delivers them."""
        out, box, spool = self.out, self.box, self.spool
        fh = self.client("firehose")
        streams = fh.list_delivery_streams()["DeliveryStreamNames"]
        saved = {s: fh.describe_delivery_stream(DeliveryStreamName=s)["DeliveryStreamDescription"] for s in streams}
        for s in streams:
            fh.delete_delivery_stream(DeliveryStreamName=s)
        box.start(open(out / "task-2.log", "w"))
        wait_port(9090, 60, box.proc)
        status, _ = self.pay(self.pacs008.replace(b"E9999901", b"E9999902"))
        box.stop(signal.SIGKILL)
        spooled = [l for f in spool.rglob("*.jsonl") for l in f.read_text().splitlines() if l.strip()]
        step("Firehose away: the killed task's records stay on the spool volume", status == 201 and len(spooled) > 0,
             f"{len(spooled)} records spooled")
        for s, desc in saved.items():
            dest = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
            fh.create_delivery_stream(DeliveryStreamName=s, DeliveryStreamType="DirectPut",
                                      ExtendedS3DestinationConfiguration={"RoleARN": dest["RoleARN"],
                                                                          "BucketARN": dest["BucketARN"],
                                                                          "Prefix": dest.get("Prefix", "")})
        box.start(open(out / "task-3.log", "w"))
        wait_port(self.health_port, 60, box.proc)
        end, left = time.time() + 30, None
        while time.time() < end:
            left = sum(1 for f in spool.rglob("*.jsonl") for l in f.read_text().splitlines() if l.strip())
            if left == 0:
                break
            time.sleep(0.5)
        bucket = self.deployer.outputs.get("AuditBucketName")
        objects = self.client("s3").list_objects_v2(Bucket=bucket).get("Contents", []) if bucket else []
        step("the next task delivers what the killed one left", left == 0 and len(objects) > 0,
             f"{left} records left on the spool, {len(objects)} objects in s3://{bucket}")
        box.stop(signal.SIGTERM, timeout=self.stop_timeout)

    def check_role(self):
        """Every call the container made, against the task role's policies as deployed."""
        calls, denied = denied_calls(self.client("iam"), self.client("secretsmanager"), self.role_arn.split("/")[-1],
                                     self.out / "moto-recording.jsonl", self.creds["AccessKeyId"])
        made = sorted({c[0] for c in calls})
        step("every AWS call of the container is allowed by the task role", bool(calls) and not denied,
             f"{len(calls)} calls ({', '.join(made)}); denied: {denied or 'none'}")
        unexpected = sorted(set(made) - {"ssm:GetParametersByPath", "secretsmanager:GetSecretValue",
                                         "firehose:PutRecordBatch", "firehose:PutRecord"})
        step("the container calls nothing the rehearsal does not know", not unexpected, str(unexpected))


def spool_volume(template, container):
    """The EFS configuration of the volume the container mounts at the spool's path, read from the
    template deployed (moto's CloudFormation keeps the task's volumes without it); None without."""
    volumes = {v["Name"]: {k[0].lower() + k[1:]: w for k, w in v["EFSVolumeConfiguration"].items()}
               for v in template["Resources"]["TaskDefinition"]["Properties"].get("Volumes", [])
               if "EFSVolumeConfiguration" in v}
    mounts = [m for m in container.get("mountPoints", []) if m["containerPath"] == "/var/lib/pix/spool"]
    return volumes.get(mounts[0]["sourceVolume"]) if mounts else None
