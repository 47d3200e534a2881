"""deploy.sh against a stub `aws`: the exact commands, in dependency order, with outputs wired."""
import json
import os
import pathlib
import subprocess

import pytest

from conftest import ROOT


@pytest.fixture
def stub(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(ROOT / "tests" / "aws_stub.py")
    key = tmp_path / "mtls.key"
    # Not a key: placeholder text, to see that deploy.sh passes the file's content on and masks it.
    key.write_text("placeholder mTLS key material\nnot-a-real-key\n")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", AWS_STUB_LOG=str(tmp_path / "calls.log"),
               PIX_MTLS_PRIVATE_KEY_FILE=str(key), PIX_HSM_USER="crypto-user", PIX_HSM_PASSWORD="s3cret-pw",
               PIX_PROXY_TLS_PRIVATE_KEY_FILE=str(key),
               PIX_CODE_OBJECT_VERSION="3HL4kqtJlcpXroDTDmJ")

    def run(*args, deployed=""):
        env["AWS_STUB_DEPLOYED"] = deployed
        done = subprocess.run([str(ROOT / "deploy.sh"), *args], capture_output=True, text=True, env=env)
        log = tmp_path / "calls.log"
        calls = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return done, calls

    return run


def deploys(calls):
    return [c for c in calls if "deploy" in c]


def param(call, name):
    params = call[call.index("--parameter-overrides") + 1:]
    values = [p.split("=", 1)[1] for p in params if p.startswith(name + "=")]
    return values[0] if values else None


def stack(call):
    return call[call.index("--stack-name") + 1]


def test_dry_run_prints_change_sets_in_dependency_order(stub):
    done, calls = stub("-e", "dev", "--dry-run", deployed="network,audit,keys")
    assert done.returncode == 0, done.stderr
    d = deploys(calls)
    assert [stack(c) for c in d] == [f"pix-proxy-dev-{s}" for s in ("network", "audit", "keys", "certificates", "kms-lambda", "simulator")]
    assert all("--no-execute-changeset" in c for c in d)
    assert all(c[c.index("--template-file") + 1].endswith(stack(c).split("-", 3)[-1] + ".yaml") for c in d)
    printed = [l for l in done.stdout.splitlines() if l.startswith("+ aws")]
    assert len(printed) == len(d)
    # Outputs of earlier stacks become parameters of later ones, by name.
    lam = d[4]
    assert param(lam, "PrivateSubnetIds") == "subnet-a,subnet-b"
    assert param(lam, "ExecuteApiEndpointId") == "vpce-api"
    assert param(lam, "SignatureKeyArn") == "arn:aws:kms:::key/1"
    assert param(lam, "SpiAuditStreamArn") == "arn:aws:firehose:::spi"
    assert param(lam, "CodeBucket") == "pix-proxy-dev-artifacts"
    # The code artefact each deployment runs, by its S3 object version.
    assert param(lam, "CodeObjectVersion") == "3HL4kqtJlcpXroDTDmJ"
    assert param(d[2], "SpiAuditStream") == "pix-proxy-dev-spi"
    assert param(d[2], "Flavour") == "kms"
    # Keys first, certificates in a stack of their own after them.
    assert param(d[2], "SignatureCertificate") is None
    assert param(d[3], "SignatureCertificate").startswith("-----BEGIN CERTIFICATE-----")
    assert param(d[3], "Flavour") == "kms"
    # Parameters a template does not declare are never passed.
    assert param(d[0], "CodeBucket") is None
    # The secret reaches the command but never the printed output.
    assert "not-a-real-key" in param(d[2], "MtlsPrivateKey")
    assert "not-a-real-key" not in done.stdout and "MtlsPrivateKey=****" in done.stdout


def test_stack_selection(stub):
    _, calls = stub("-e", "dev", "--dry-run", "--only-stacks", "audit,simulator")
    assert [stack(c) for c in deploys(calls)] == ["pix-proxy-dev-audit", "pix-proxy-dev-simulator"]
    _, calls = stub("-e", "dev", "--dry-run", "--skip-stacks", "simulator,network")
    assert [stack(c) for c in deploys(calls)] == ["pix-proxy-dev-audit", "pix-proxy-dev-keys", "pix-proxy-dev-certificates", "pix-proxy-dev-kms-lambda"]
    _, calls = stub("-e", "dev", "--dry-run", "--from-stack", "kms-lambda", deployed="network,audit,keys,certificates")
    d = deploys(calls)
    assert [stack(c) for c in d] == ["pix-proxy-dev-kms-lambda", "pix-proxy-dev-simulator"]
    # Outputs of the stacks before --from-stack are read from the deployed stacks.
    assert param(d[0], "ProxySecurityGroupId") == "sg-proxy"
    # The production environment deploys the CloudHSM flavour.
    done, calls = stub("-e", "prod", "--dry-run")
    d = deploys(calls)
    assert [stack(c) for c in d] == [f"pix-proxy-prod-{s}" for s in ("network", "audit", "keys", "certificates", "hsm-fargate")]
    assert param(d[2], "HsmPassword") == "s3cret-pw" and "s3cret-pw" not in done.stdout
    # The proxy's server key for the bank's services: passed on, never printed.
    assert "not-a-real-key" in param(d[2], "ProxyTlsPrivateKey") and "ProxyTlsPrivateKey=****" in done.stdout


def test_status_and_bad_arguments(stub):
    done, _ = stub("-e", "dev", "--status", deployed="network")
    lines = dict(l.split(None, 1) for l in done.stdout.splitlines())
    assert lines["network"] == "CREATE_COMPLETE" and lines["keys"] == "NOT_DEPLOYED"
    for args in (["--dry-run"], ["-e", "nope"], ["-e", "Dev-1"], ["-e", "dev", "--only-stacks", "bogus"], ["-e", "dev", "--frobnicate"]):
        done, calls = stub(*args)
        assert done.returncode == 2, args
        assert deploys(calls) == []


def test_a_missing_key_stops_before_the_keys_stack(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(ROOT / "tests" / "aws_stub.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIX_")}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", AWS_STUB_LOG=str(tmp_path / "calls.log"))
    done = subprocess.run([str(ROOT / "deploy.sh"), "-e", "dev", "--dry-run"], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert "needs PIX_MTLS_PRIVATE_KEY_FILE" in done.stderr
    calls = [json.loads(l) for l in (tmp_path / "calls.log").read_text().splitlines()]
    assert [stack(c) for c in deploys(calls)] == ["pix-proxy-dev-network", "pix-proxy-dev-audit"]
