"""The policies of infrastructure/policy/ hold on our templates, and each one fails when its
promise is broken on purpose."""
import json
import subprocess
from collections import defaultdict

from cfnlint.decode import cfn_yaml

from conftest import ROOT

CHECKS = (ROOT / "policy" / "CHECKS").read_text().strip()
ALL_IDS = CHECKS.split(",")


def load(stack):
    return json.loads(json.dumps(cfn_yaml.load(str(ROOT / "stacks" / f"{stack}.yaml"))))


def checkov(directory):
    """Runs checkov with only our checks over `directory`: {(file name, check id): [passed?, ...]}."""
    run = subprocess.run(
        ["checkov", "-d", str(directory), "--framework", "cloudformation", "--external-checks-dir",
         str(ROOT / "policy"), "--check", CHECKS, "--skip-download", "-o", "json"],
        capture_output=True, text=True,
    )
    report = json.loads(run.stdout)
    results = defaultdict(list)
    for verdict, key in ((True, "passed_checks"), (False, "failed_checks")):
        for r in report["results"].get(key, []):
            results[(r["file_path"].lstrip("/"), r["check_id"])].append(verdict)
    return results


def resources(template, kind):
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_every_template_keeps_every_promise(tmp_path):
    for stack in ("network", "keys", "certificates", "audit", "kms-lambda", "hsm-fargate", "simulator"):
        (tmp_path / f"{stack}.json").write_text(json.dumps(load(stack)))
    # The NAT resources only exist when EnableNat is true: check that variant too.
    nat = load("network")
    nat["Parameters"]["EnableNat"]["Default"] = "true"
    (tmp_path / "network-nat.json").write_text(json.dumps(nat))
    results = checkov(tmp_path)
    failed = {k for k, v in results.items() if False in v}
    assert not failed, f"policies fail: {sorted(failed)}"
    evaluated = {check for (_, check) in results}
    assert evaluated == set(ALL_IDS), f"never evaluated: {set(ALL_IDS) - evaluated}"


def mutations():
    """(check id, stack, what is broken, function that breaks it)."""

    def set_props(kind, **changes):
        def apply(t):
            for r in resources(t, kind):
                r["Properties"].update(changes)
        return apply

    def drop_prop(kind, name):
        def apply(t):
            for r in resources(t, kind):
                r["Properties"].pop(name, None)
        return apply

    def public_route(t):
        t["Parameters"]["EnableNat"]["Default"] = "true"
        t["Resources"]["PrivateInternetRoute"] = {
            "Type": "AWS::EC2::Route",
            "Condition": "WithNat",
            "Properties": {"RouteTableId": {"Ref": "PrivateRouteTable"}, "DestinationCidrBlock": "0.0.0.0/0",
                           "GatewayId": {"Ref": "InternetGateway"}},
        }

    def public_access(t):
        for r in resources(t, "AWS::S3::Bucket"):
            r["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False

    def no_vpce_deny(t):
        for r in resources(t, "AWS::ApiGateway::RestApi"):
            r["Properties"]["Policy"]["Statement"] = [s for s in r["Properties"]["Policy"]["Statement"] if s["Effect"] != "Deny"]

    def public_task(t):
        for r in resources(t, "AWS::ECS::Service"):
            r["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] = "ENABLED"

    def other_prefix(t):
        for r in resources(t, "AWS::KinesisFirehose::DeliveryStream"):
            r["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"] = "log/dict/dt=!{timestamp:yyyy-MM-dd}/"

    def unencrypted_results(t):
        for r in resources(t, "AWS::Athena::WorkGroup"):
            r["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"].pop("EncryptionConfiguration")

    def anyone_signs(t):
        for r in resources(t, "AWS::KMS::Key"):
            for s in r["Properties"]["KeyPolicy"]["Statement"]:
                s.pop("Condition", None)

    def wildcard_action(t):
        role = t["Resources"]["SpiRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        role.append({"Effect": "Allow", "Action": "kms:*", "Resource": {"Ref": "SignatureKeyArn"}})

    def wildcard_resource(t):
        role = t["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        role[0]["Resource"] = "*"

    def open_method(t):
        for r in resources(t, "AWS::ApiGateway::Method"):
            r["Properties"]["AuthorizationType"] = "NONE"

    def anyone_invokes(t):
        for r in resources(t, "AWS::ApiGateway::RestApi"):
            for st in r["Properties"]["Policy"]["Statement"]:
                if st["Effect"] == "Allow":
                    st["Principal"] = "*"

    def plain_listener(t):
        for r in resources(t, "AWS::ElasticLoadBalancingV2::Listener"):
            r["Properties"]["Protocol"] = "HTTP"

    def tls_ends_at_the_balancer(t):
        for r in resources(t, "AWS::ElasticLoadBalancingV2::Listener"):
            r["Properties"]["Protocol"] = "HTTPS"

    def callers_optional(t):
        for r in resources(t, "AWS::ECS::TaskDefinition"):
            for c in r["Properties"]["ContainerDefinitions"]:
                c["Command"] = [a for a in c["Command"] if a != "--require-client-ca"]

    return [
        ("CKV_PIX_14", "kms-lambda", "an API method without authorization", open_method),
        ("CKV_PIX_14", "kms-lambda", "an API any principal may invoke", anyone_invokes),
        ("CKV_PIX_14", "hsm-fargate", "a plain-HTTP listener", plain_listener),
        ("CKV_PIX_14", "hsm-fargate", "TLS ended at the load balancer without client certificates", tls_ends_at_the_balancer),
        ("CKV_PIX_14", "hsm-fargate", "a task that serves callers it cannot authenticate", callers_optional),
        ("CKV_PIX_1", "hsm-fargate", "internet-facing load balancer", set_props("AWS::ElasticLoadBalancingV2::LoadBalancer", Scheme="internet-facing")),
        ("CKV_PIX_1", "simulator", "internet-facing NLB", set_props("AWS::ElasticLoadBalancingV2::LoadBalancer", Scheme="internet-facing")),
        ("CKV_PIX_2", "kms-lambda", "regional (public) API", set_props("AWS::ApiGateway::RestApi", EndpointConfiguration={"Types": ["REGIONAL"]})),
        ("CKV_PIX_2", "kms-lambda", "API open to any VPC endpoint", no_vpce_deny),
        ("CKV_PIX_3", "network", "subnet with public IPs", set_props("AWS::EC2::Subnet", MapPublicIpOnLaunch=True)),
        ("CKV_PIX_3", "hsm-fargate", "task with a public IP", public_task),
        ("CKV_PIX_4", "network", "private subnets routed to the internet gateway", public_route),
        ("CKV_PIX_5", "audit", "unencrypted bucket", drop_prop("AWS::S3::Bucket", "BucketEncryption")),
        ("CKV_PIX_5", "audit", "bucket that may become public", public_access),
        ("CKV_PIX_5", "keys", "unversioned trail bucket", drop_prop("AWS::S3::Bucket", "VersioningConfiguration")),
        ("CKV_PIX_6", "audit", "unencrypted Firehose", drop_prop("AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamEncryptionConfigurationInput")),
        ("CKV_PIX_7", "audit", "Firehose prefix other than the seeds'", other_prefix),
        ("CKV_PIX_8", "audit", "unencrypted Athena results", unencrypted_results),
        ("CKV_PIX_9", "keys", "RSA_4096 signature key", set_props("AWS::KMS::Key", KeySpec="RSA_4096")),
        ("CKV_PIX_9", "keys", "any principal of the account may sign", anyone_signs),
        ("CKV_PIX_10", "kms-lambda", "kms:* in a role", wildcard_action),
        ("CKV_PIX_10", "hsm-fargate", "Resource * in a role", wildcard_resource),
        ("CKV_PIX_11", "keys", "trail without log file validation", set_props("AWS::CloudTrail::Trail", EnableLogFileValidation=False)),
        ("CKV_PIX_12", "hsm-fargate", "log group kept forever", drop_prop("AWS::Logs::LogGroup", "RetentionInDays")),
        ("CKV_PIX_13", "kms-lambda", "an alarm nobody hears", drop_prop("AWS::CloudWatch::Alarm", "AlarmActions")),
        ("CKV_PIX_13", "audit", "a Firehose freshness alarm nobody hears", drop_prop("AWS::CloudWatch::Alarm", "AlarmActions")),
    ]


def test_every_alarm_has_an_sns_action_and_the_alarms_the_runbook_names_exist():
    names = set()
    for stack in ("audit", "kms-lambda", "hsm-fargate"):
        t = load(stack)
        assert "AlarmTopicArn" in t["Parameters"], stack
        for name, r in t["Resources"].items():
            if r["Type"] == "AWS::CloudWatch::Alarm":
                assert r["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopicArn"}], f"{stack}.{name}"
                names.add(name)
    runbook = (ROOT.parent / "docs" / "operations.md").read_text()
    for alarm in ("SignatureInvalidAlarm", "BacenRefusedAlarm", "CertificateExpiringAlarm", "AuditSpoolFullAlarm",
                  "AuditWriteFailedAlarm", "Target5xxAlarm", "SpiApi5xxAlarm", "SpiLambdaThrottlesAlarm", "CallerRefusedAlarm", "HandOffFailedAlarm", "ConsumerLagAlarm",
                  "SecondaryChannelInUseAlarm", "SpiDataFreshnessAlarm", "TrustReloadRefusedAlarm"):
        assert alarm in names, alarm
        assert alarm.removesuffix("Alarm") in runbook, f"the runbook says what to do about {alarm}"


def test_each_policy_fails_when_its_promise_is_broken(tmp_path):
    cases = mutations()
    assert {c[0] for c in cases} == set(ALL_IDS), "every policy needs a case that breaks it"
    for i, (_, stack, _, apply) in enumerate(cases):
        template = load(stack)
        apply(template)
        (tmp_path / f"case{i}-{stack}.json").write_text(json.dumps(template))
    results = checkov(tmp_path)
    for i, (check, stack, what, _) in enumerate(cases):
        verdicts = results.get((f"case{i}-{stack}.json", check), [])
        assert False in verdicts, f"{check} did not catch: {what} ({stack})"
