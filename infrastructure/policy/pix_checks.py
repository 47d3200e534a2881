"""Our promises about the infrastructure, as checkov checks over the CloudFormation templates.

Run: checkov -d infrastructure/stacks --framework cloudformation \
         --external-checks-dir infrastructure/policy --check "$(cat infrastructure/policy/CHECKS)"
Each check names the promise it keeps; infrastructure/tests/test_policies.py breaks each one on
purpose and expects its check to fail.
"""

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

PASSED, FAILED = CheckResult.PASSED, CheckResult.FAILED

# The seeds' exact Firehose prefixes (001/002), by message family.
FIREHOSE_PREFIXES = {
    family: (
        f"log/{family}/year=!{{timestamp:yyyy}}/month=!{{timestamp:MM}}/day=!{{timestamp:dd}}/hour=!{{timestamp:HH}}/",
        f"error/{family}/year=!{{timestamp:yyyy}}/month=!{{timestamp:MM}}/day=!{{timestamp:dd}}/hour=!{{timestamp:HH}}/!{{firehose:error-output-type}}",
    )
    for family in ("spi", "dict")
}

# Actions AWS does not scope to a resource; only these may use Resource "*". (CloudHSM's
# DescribeClusters, which configure-pkcs11 calls to find a cluster's HSMs, names no resource type
# in the Service Authorization Reference.)
UNSCOPED_ACTIONS = {"ecr:GetAuthorizationToken", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                    "cloudhsm:DescribeClusters"}


def props(conf):
    return conf.get("Properties") or {}


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(document):
    return as_list((document or {}).get("Statement"))


class Check(BaseResourceCheck):
    """A check from a function of the resource's configuration."""

    def __init__(self, id, name, category, resources, test):
        self.test = test
        super().__init__(name=name, id=id, categories=[category], supported_resources=resources)

    def scan_resource_conf(self, conf):
        return PASSED if self.test(conf) else FAILED


def internal_load_balancer(conf):
    return props(conf).get("Scheme") == "internal"


def private_api(conf):
    p = props(conf)
    types = as_list((p.get("EndpointConfiguration") or {}).get("Types"))
    deny_other_endpoints = any(
        s.get("Effect") == "Deny" and "aws:SourceVpce" in ((s.get("Condition") or {}).get("StringNotEquals") or {})
        for s in statements(p.get("Policy"))
    )
    return types == ["PRIVATE"] and deny_other_endpoints


def no_public_ip(conf):
    p = props(conf)
    if conf.get("Type") == "AWS::EC2::Subnet" or "MapPublicIpOnLaunch" in p:
        return p.get("MapPublicIpOnLaunch") in (False, "false")
    vpc = ((p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration")) or {}
    return vpc.get("AssignPublicIp") == "DISABLED"


def internet_route_only_for_nat(conf):
    p = props(conf)
    if "GatewayId" not in p:
        return True
    # checkov has already dropped resources whose Condition is false (no NAT, no such route).
    return (p.get("RouteTableId") or {}).get("Ref") == "NatRouteTable"


def private_encrypted_bucket(conf):
    p = props(conf)
    rules = as_list((p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration"))
    encrypted = any(
        ((r.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")) in ("AES256", "aws:kms", "aws:kms:dsse")
        for r in rules
    )
    block = p.get("PublicAccessBlockConfiguration") or {}
    blocked = all(
        block.get(k) in (True, "true")
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    versioned = (p.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
    return encrypted and blocked and versioned


def encrypted_firehose(conf):
    key = (props(conf).get("DeliveryStreamEncryptionConfigurationInput") or {}).get("KeyType")
    return key in ("AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK")


def firehose_as_the_seeds_say(conf):
    dest = props(conf).get("ExtendedS3DestinationConfiguration") or {}
    pair = (dest.get("Prefix"), dest.get("ErrorOutputPrefix"))
    conversion = dest.get("DataFormatConversionConfiguration") or {}
    parquet = "ParquetSerDe" in (((conversion.get("OutputFormatConfiguration") or {}).get("Serializer")) or {})
    return pair in FIREHOSE_PREFIXES.values() and conversion.get("Enabled") in (True, "true") and parquet


def encrypted_athena(conf):
    config = props(conf).get("WorkGroupConfiguration") or {}
    option = ((config.get("ResultConfiguration") or {}).get("EncryptionConfiguration") or {}).get("EncryptionOption")
    return option in ("SSE_S3", "SSE_KMS", "CSE_KMS") and config.get("EnforceWorkGroupConfiguration") in (True, "true")


def signature_key(conf):
    p = props(conf)
    if p.get("KeyUsage") != "SIGN_VERIFY":
        return True
    if p.get("KeySpec") != "RSA_2048":
        return False
    for s in statements(p.get("KeyPolicy")):
        if s.get("Effect") != "Allow":
            continue
        actions = set(as_list(s.get("Action")))
        if actions & {"*", "kms:*"} or s.get("Principal") == "*":
            return False
        if actions & {"kms:Sign", "kms:Sign*", "kms:*"}:
            arns = ((s.get("Condition") or {}).get("ArnEquals") or {}).get("aws:PrincipalArn")
            if not arns:
                return False
    return True


def least_privilege(conf):
    p = props(conf)
    documents = [pol.get("PolicyDocument") for pol in as_list(p.get("Policies"))]
    if conf.get("Type") == "AWS::IAM::Policy" or "PolicyDocument" in p:
        documents.append(p.get("PolicyDocument"))
    for s in (s for d in documents for s in statements(d)):
        if s.get("Effect") != "Allow":
            continue
        actions = [a for a in as_list(s.get("Action")) if isinstance(a, str)]
        if any(a == "*" or a.endswith(":*") for a in actions):
            return False
        if "*" in as_list(s.get("Resource")) and not set(actions) <= UNSCOPED_ACTIONS:
            return False
    return True


def trail_with_validation(conf):
    return props(conf).get("EnableLogFileValidation") in (True, "true")


def log_retention(conf):
    return "RetentionInDays" in props(conf)


def alarm_notifies(conf):
    return len(as_list(props(conf).get("AlarmActions"))) > 0


def authenticated_callers(conf):
    """The proxy's endpoints admit only authenticated callers (issue 35, docs/operations.md "Callers"):
    the Lambda's API methods use AWS_IAM (SigV4) and its resource policy allows named principals
    only; the Fargate flavour's listeners pass TLS through to the proxy (TCP), which verifies client
    certificates, or verify them at the load balancer (HTTPS, mutual TLS `verify`); its task runs
    `serve --require-client-ca`, so that it never serves callers it cannot authenticate."""
    p = props(conf)
    kind = conf.get("Type")
    if kind == "AWS::ApiGateway::Method":
        return p.get("AuthorizationType") == "AWS_IAM"
    if kind == "AWS::ApiGateway::RestApi":
        for s in statements(p.get("Policy")):
            if s.get("Effect") != "Allow":
                continue
            principal = s.get("Principal")
            aws = principal.get("AWS") if isinstance(principal, dict) else principal
            if not aws or "*" in as_list(aws):
                return False
        return True
    if kind == "AWS::ElasticLoadBalancingV2::Listener":
        protocol = p.get("Protocol")
        mutual = (p.get("MutualAuthentication") or {}).get("Mode")
        return protocol == "TCP" or (protocol == "HTTPS" and mutual == "verify")
    if kind == "AWS::ECS::TaskDefinition":
        for c in as_list(p.get("ContainerDefinitions")):
            command = [a for a in as_list(c.get("Command")) if isinstance(a, str)]
            proxy = "proxy-hsm" in str(c.get("Name", "")) or "proxy-hsm" in str(c.get("Image"))
            # A proxy task states its command; one that serves the bank's services requires
            # their certificates (the consumer serves nobody but its health port).
            if proxy and (not command or (command[0] == "serve" and "--require-client-ca" not in command)):
                return False
        return True
    return True


CHECKS = [
    Check("CKV_PIX_1", "Load balancers are internal", CheckCategories.NETWORKING,
          ["AWS::ElasticLoadBalancingV2::LoadBalancer"], internal_load_balancer),
    Check("CKV_PIX_2", "REST APIs are private and admit only the VPC endpoint", CheckCategories.NETWORKING,
          ["AWS::ApiGateway::RestApi"], private_api),
    Check("CKV_PIX_3", "No public IP addresses for subnets or tasks", CheckCategories.NETWORKING,
          ["AWS::EC2::Subnet", "AWS::ECS::Service"], no_public_ip),
    Check("CKV_PIX_4", "Only the NAT subnet routes to an internet gateway", CheckCategories.NETWORKING,
          ["AWS::EC2::Route"], internet_route_only_for_nat),
    Check("CKV_PIX_5", "S3 buckets are encrypted, versioned and private", CheckCategories.ENCRYPTION,
          ["AWS::S3::Bucket"], private_encrypted_bucket),
    Check("CKV_PIX_6", "Firehose streams are encrypted at rest", CheckCategories.ENCRYPTION,
          ["AWS::KinesisFirehose::DeliveryStream"], encrypted_firehose),
    Check("CKV_PIX_7", "Firehose writes Parquet under the seeds' prefixes", CheckCategories.LOGGING,
          ["AWS::KinesisFirehose::DeliveryStream"], firehose_as_the_seeds_say),
    Check("CKV_PIX_8", "Athena results are encrypted and the workgroup enforces it", CheckCategories.ENCRYPTION,
          ["AWS::Athena::WorkGroup"], encrypted_athena),
    Check("CKV_PIX_9", "The signature key is RSA_2048 SIGN_VERIFY and only the proxy may sign", CheckCategories.ENCRYPTION,
          ["AWS::KMS::Key"], signature_key),
    Check("CKV_PIX_10", "IAM actions are named and limited to named resources", CheckCategories.IAM,
          ["AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"], least_privilege),
    Check("CKV_PIX_11", "CloudTrail validates its log files", CheckCategories.LOGGING,
          ["AWS::CloudTrail::Trail"], trail_with_validation),
    Check("CKV_PIX_12", "Log groups have a retention period", CheckCategories.LOGGING,
          ["AWS::Logs::LogGroup"], log_retention),
    Check("CKV_PIX_13", "Every alarm notifies someone (an SNS action)", CheckCategories.LOGGING,
          ["AWS::CloudWatch::Alarm"], alarm_notifies),
    Check("CKV_PIX_14", "The proxy's endpoints admit only authenticated callers", CheckCategories.IAM,
          ["AWS::ApiGateway::Method", "AWS::ApiGateway::RestApi", "AWS::ElasticLoadBalancingV2::Listener",
           "AWS::ECS::TaskDefinition"], authenticated_callers),
]
