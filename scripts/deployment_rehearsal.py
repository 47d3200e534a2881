#!/usr/bin/env python3
"""The deployment rehearsal: both flavours as a bank deploys them, short of AWS itself. The
CloudHSM flavour (deployment/fargate.py):

1. The stacks of the Fargate flavour (network, audit, keys, certificates, hsm-fargate) go into
   moto's CloudFormation, in deploy.sh's order, each stack's outputs feeding the next. Resource
   types moto's CloudFormation does not implement are listed, left out of what moto deploys and
   checked by parsing instead (cfn-lint and our checkov policies, infrastructure/tests); those the
   service cannot run without, or whose moto model falls short, are made through their own APIs
   from the template's properties (deployment/cloudformation.py lists them and why).
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

The KMS flavour (deployment/lambda_flavour.py): its stacks, the key's request made by `proxy-kms
csr`, the code artefact from a versioned bucket, the function started from the artefact the alias
`live` points at (handler, environment, memory and role as deployed) under the runtime API
emulator, a payment, every call against its role, a release and the documented rollback.

Its parts are in scripts/deployment/ (cloudformation, image, iam, fargate, lambda_flavour).

Usage: deployment_rehearsal.py --bin target/debug --out target/deployment-rehearsal
Needs root (mount namespace, overlay, chroot), moto_server, softhsm2-util and openssl.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys

from deployment.common import SOFTHSM, steps
from deployment import fargate, lambda_flavour


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
        fargate.rehearse(out, binaries, procs)
        lambda_flavour.rehearse(out / "lambda", binaries, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = [s for s in steps if not s[1]]
    print(f"DEPLOYMENT REHEARSAL {'PASSED' if not failed else 'FAILED'}: {len(steps)} steps, {len(failed)} failed")
    (out / "steps.json").write_text(json.dumps(steps, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
