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
from .iam import allowed, calls_by, role_statements
from .image import Container, dockerfile


def rehearse(out, binaries, procs):
    proxy = binaries / "proxy-hsm"
    endpoint = start_moto(out, procs)
    if endpoint is None:
        return
    pki = out / "pki"
    run(binaries / "simulator", "pki", "--out", pki)

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

    bacen = Bacen(binaries, out, pki, out / "pix-mtls.cer", out / "pix-signature.cer")
    if not step("BACEN's simulator", bacen.start(procs)):
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
                      "ProxyTlsPrivateKey": (pki / "proxy-tls.key").read_text(),
                      "Callers": json.dumps({"callers": [{"name": "payments", "san": "pagamentos.banco.internal",
                                                          "allow": {"spi-send": [ISPB], "spi-stream": [ISPB]}}]}),
                      **bacen.endpoints()})
    d.deploy("certificates", {"Flavour": "cloudhsm", "SignatureCertificate": certs["pix-signature"],
                              "MtlsCertificate": certs["pix-mtls"],
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
    step("the command refuses to serve callers it cannot authenticate", "--require-client-ca" in cmd, " ".join(cmd))
    listeners = [l for lb in elb.describe_load_balancers()["LoadBalancers"]
                 for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]]
    step("the load balancer passes TLS through to the proxy (TCP listeners)",
         bool(listeners) and all(l["Protocol"] == "TCP" for l in listeners),
         ", ".join(f"{l['Port']}/{l['Protocol']}" for l in listeners))

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
    msgs = f"https://127.0.0.1:9090/api/v1/in/{ISPB}/msgs"
    xml = {"Content-Type": "application/xml"}
    status, body = http("POST", msgs, pacs008, xml, caller_tls(pki))
    step("a payment from the bank's service (client certificate of its CA): signed with the token's key, taken by BACEN",
         status == 201, f"{status} {body[:300].decode(errors='replace')}")
    status, body = http("POST", msgs, pacs008, xml, caller_tls(pki, None))
    step("a caller without a client certificate is refused in the handshake", status is None,
         f"{status} {body[:200].decode(errors='replace')}")
    status, body = http("POST", msgs, pacs008, xml, caller_tls(pki, "payee-caller"))
    step("a service of the bank's CA outside the callers policy: 403 naming the permission",
         status == 403 and b"spi-send" in body, f"{status} {body[:300].decode(errors='replace')}")

    # ICOM's primary channel down: after BcbFailoverSeconds (2 s here) the task sends on the
    # secondary channel (gzip'd, which the simulator requires there), and comes back.
    before = bacen.secondary_requests()
    bacen.primary(False)
    status, deadline = None, time.time() + 30
    while status != 201 and time.time() < deadline:
        status, body = http("POST", msgs, pacs008, xml, caller_tls(pki))
        time.sleep(0.3)
    log_text = (out / "task-1.log").read_text()
    step("ICOM's primary channel down: the payment goes on the secondary channel (BcbSpiSecondaryEndpoint)",
         status == 201 and bacen.secondary_requests() > before and '"metric":"ChannelFailover"' in log_text,
         f"{status} {body[:200].decode(errors='replace')}")
    bacen.primary(True)
    deadline = time.time() + 30
    while '"metric":"ChannelRestored"' not in (out / "task-1.log").read_text() and time.time() < deadline:
        http("POST", msgs, pacs008, xml, caller_tls(pki))
        time.sleep(0.5)
    time.sleep(1)
    quiet = bacen.secondary_requests()
    status, _ = http("POST", msgs, pacs008, xml, caller_tls(pki))
    step("the primary back: the task returns to it", status == 201 and bacen.secondary_requests() == quiet
         and '"metric":"ChannelRestored"' in (out / "task-1.log").read_text())

    # BACEN away: the load balancer's check stays 200, nothing is recycled.
    bacen.stop()
    for hport, path in sorted(checks):
        status, _ = http("GET", f"http://127.0.0.1:{hport}{path}")
        step(f"with BACEN unreachable the load balancer's check ({path}) still answers 200", status == 200)
    status, _ = http("GET", f"http://127.0.0.1:{health_port}/bacen")
    step("with BACEN unreachable /bacen says so (503)", status == 503)
    bacen.start(procs)

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
    status, body = http("POST", msgs, pacs008.replace(b"E9999901", b"E9999902"), xml, caller_tls(pki))
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
    statements = role_statements(iam, role)
    secrets = {s["Name"]: s["ARN"] for s in sm.list_secrets()["SecretList"]}
    calls = calls_by(out / "moto-recording.jsonl", creds["AccessKeyId"])
    denied = sorted({c for c in calls if not allowed(statements, c[0], c[1], secrets)})
    made = sorted({c[0] for c in calls})
    step("every AWS call of the container is allowed by the task role", bool(calls) and not denied,
         f"{len(calls)} calls ({', '.join(made)}); denied: {denied or 'none'}")
    unexpected = sorted(set(made) - {"ssm:GetParametersByPath", "secretsmanager:GetSecretValue",
                                     "firehose:PutRecordBatch", "firehose:PutRecord"})
    step("the container calls nothing the rehearsal does not know", not unexpected, str(unexpected))

