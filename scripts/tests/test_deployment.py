"""The deployment rehearsal's own logic (scripts/deployment/): the IAM evaluator that judges every
AWS call a task or function made, moto's recording read back into calls, the Dockerfile's final
stage as the container is started, the template readers. Each a unit, on small inputs made here."""

import base64
import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from deployment import iam, image  # noqa: E402

SECRET_ARN = "arn:aws:secretsmanager:sa-east-1:123456789012:secret:/pix/proxy/x-AbCdEf"


def test_allowed_matches_actions_and_resources_by_wildcard_and_only_allows():
    statements = [
        {"Effect": "Allow", "Action": ["ssm:GetParametersByPath"],
         "Resource": "arn:aws:ssm:sa-east-1:123456789012:parameter/pix/proxy/*"},
        {"Effect": "Allow", "Action": "firehose:PutRecord*", "Resource": ["arn:aws:firehose:*:*:deliverystream/pix-?pi"]},
        {"Effect": "Deny", "Action": "kms:*", "Resource": "*"},
    ]
    ok = lambda action, resource: iam.allowed(statements, action, resource, {})  # noqa: E731
    assert ok("ssm:GetParametersByPath", "arn:aws:ssm:sa-east-1:123456789012:parameter/pix/proxy/spi")
    assert not ok("ssm:GetParametersByPath", "arn:aws:ssm:sa-east-1:123456789012:parameter/other")
    assert ok("firehose:PutRecordBatch", "arn:aws:firehose:sa-east-1:1:deliverystream/pix-spi")
    assert not ok("firehose:PutRecordBatch", "arn:aws:firehose:sa-east-1:1:deliverystream/pix-dict")
    # A Deny is no grant, and what nothing allows is refused.
    assert not ok("kms:Sign", "arn:aws:kms:sa-east-1:1:key/k")
    assert not ok("s3:GetObject", "arn:aws:s3:::bucket/key")
    # Actions match case-insensitively, as IAM's do.
    assert ok("SSM:getparametersbypath", "arn:aws:ssm:sa-east-1:123456789012:parameter/pix/proxy/spi")


def test_a_secret_named_by_name_is_judged_by_its_arn():
    statements = [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET_ARN}]
    assert iam.allowed(statements, "secretsmanager:GetSecretValue", "/pix/proxy/x", {"/pix/proxy/x": SECRET_ARN})
    assert not iam.allowed(statements, "secretsmanager:GetSecretValue", "/pix/proxy/y", {"/pix/proxy/x": SECRET_ARN})


def test_calls_are_read_from_moto_recording_by_the_signing_key(tmp_path):
    def request(key, target, payload, encoded=False):
        body = json.dumps(payload)
        return json.dumps({
            "headers": {"Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20261207/sa-east-1/x/aws4_request",
                        "X-Amz-Target": target},
            "body": base64.b64encode(body.encode()).decode() if encoded else body,
            "body_encoded": encoded,
        })

    recording = tmp_path / "recording.jsonl"
    recording.write_text("\n".join([
        request("TASK", "AmazonSSM.GetParametersByPath", {"Path": "/pix/proxy/spi"}),
        request("TASK", "secretsmanager.GetSecretValue", {"SecretId": "/pix/proxy/x"}, encoded=True),
        request("TASK", "Firehose_20150804.PutRecordBatch", {"DeliveryStreamName": "pix-spi"}),
        request("DEPLOYER", "AmazonSSM.GetParametersByPath", {"Path": "/else"}),
    ]))
    assert iam.calls_by(recording, "TASK") == [
        ("ssm:GetParametersByPath", "arn:aws:ssm:sa-east-1:123456789012:parameter/pix/proxy/spi"),
        ("secretsmanager:GetSecretValue", "/pix/proxy/x"),
        ("firehose:PutRecordBatch", "arn:aws:firehose:sa-east-1:123456789012:deliverystream/pix-spi"),
    ]


def test_the_containers_start_is_read_from_the_dockerfiles_final_stage():
    img = image.dockerfile()
    assert img["user"] == "pix" and img["uid"] == 10001 and img["username"] == "pix"
    assert img["entrypoint"] == ["/usr/local/bin/proxy-hsm-entrypoint.sh"]
    assert "--require-client-ca" in img["cmd"]
    assert {"/var/lib/pix", "/var/lib/pix/spool", "/opt/cloudhsm/etc"} <= set(img["dirs"])
    # The build stage's files are not the image's.
    assert all(dst != "/tmp/setup/" for _, _, dst in img["copies"])
    assert (True, "/src/target/release/proxy-hsm", "/usr/local/bin/proxy-hsm") in img["copies"]


def test_template_readers():
    cloudformation = pytest.importorskip("deployment.cloudformation", reason="needs cfn-lint and moto (bash .ci/run)")
    node = {"A": {"Ref": "Vpc"}, "B": {"Fn::GetAtt": ["Role", "Arn"]}, "C": {"Fn::Sub": "${Bucket}/x/${AWS::Region}"},
            "D": [{"Fn::GetAtt": "Key.Arn"}]}
    assert cloudformation.refs(node) == {"Vpc", "Role", "Bucket", "AWS::Region", "Key"}
    assert cloudformation.resolve({"N": {"Fn::Sub": "pix-${Env}"}, "R": [{"Ref": "Env"}]}, {"Env": "prod"}) == \
        {"N": "pix-prod", "R": ["prod"]}
    assert cloudformation.depends_on({"DependsOn": "X"}) == {"X"}


def test_the_spool_volume_is_read_from_the_template():
    fargate = pytest.importorskip("deployment.fargate", reason="needs boto3, cfn-lint and moto (bash .ci/run)")
    template = {"Resources": {"TaskDefinition": {"Properties": {"Volumes": [
        {"Name": "spool", "EFSVolumeConfiguration": {"TransitEncryption": "ENABLED", "FilesystemId": "fs-1"}}]}}}}
    container = {"mountPoints": [{"sourceVolume": "spool", "containerPath": "/var/lib/pix/spool"}]}
    assert fargate.spool_volume(template, container) == {"transitEncryption": "ENABLED", "filesystemId": "fs-1"}
    assert fargate.spool_volume(template, {"mountPoints": []}) is None
