#!/usr/bin/env python3
"""A stand-in for the `aws` CLI (no AWS is reachable from tests): records each call as a JSON line in
$AWS_STUB_LOG and answers `describe-stacks` with the outputs a deployed stack would have."""
import json, os, sys

OUTPUTS = {
    "network": {"VpcId": "vpc-1", "PrivateSubnetIds": "subnet-a,subnet-b", "ProxySecurityGroupId": "sg-proxy",
                "LoadBalancerSecurityGroupId": "sg-alb", "SimulatorSecurityGroupId": "sg-sim",
                "ExecuteApiEndpointId": "vpce-api", "VpcCidr": "10.40.0.0/16"},
    "audit": {"AuditBucketName": "audit-bucket", "SpiAuditStream": "pix-proxy-dev-spi", "DictAuditStream": "pix-proxy-dev-dict",
              "SpiAuditStreamArn": "arn:aws:firehose:::spi", "DictAuditStreamArn": "arn:aws:firehose:::dict"},
    "keys": {"SignatureKeyArn": "arn:aws:kms:::key/1", "MtlsPrivateKeySecretArn": "arn:aws:secretsmanager:::secret:mtls"},
}
args = sys.argv[1:]
with open(os.environ["AWS_STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if "describe-stacks" in args:
    stack = args[args.index("--stack-name") + 1].split("-", 3)[-1]
    deployed = os.environ.get("AWS_STUB_DEPLOYED", "").split(",")
    if stack not in deployed:
        print(f"An error occurred (ValidationError): Stack with id {stack} does not exist", file=sys.stderr)
        sys.exit(254)
    query = args[args.index("--query") + 1]
    if query.endswith("StackStatus"):
        print("CREATE_COMPLETE")
    else:
        print(json.dumps([{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.get(stack, {}).items()]))
