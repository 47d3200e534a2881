"""The stacks into moto's CloudFormation, as far as it implements their resource types; the
resources the service needs that it does not, made through their own APIs."""
import json
import re

import boto3
from cfnlint.decode import cfn_yaml
from moto.cloudformation.parsing import get_model_map

from .common import ENV, INFRA, REGION, step


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


def depends_on(resource):
    """The logical ids a resource's DependsOn names."""
    d = resource.get("DependsOn", [])
    return {d} if isinstance(d, str) else set(d)


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
        # moto's EFS and Lambda version models cannot answer GetAtt (Arn, Version), its KMS key
        # model makes every key symmetric, and its load balancer model drops the Type (every one an
        # ALB, which refuses TCP listeners): made through their APIs instead, as CloudFormation
        # would call them (the key policy is checked by parsing: moto does not enforce it).
        self.supported = set(get_model_map()) - {"AWS::EFS::FileSystem", "AWS::EFS::AccessPoint",
                                                 "AWS::Lambda::Version", "AWS::KMS::Key", "AWS::KMS::Alias",
                                                 "AWS::ElasticLoadBalancingV2::LoadBalancer"}
        self.elb = boto3.client("elbv2", **kw)
        self.kms = boto3.client("kms", **kw)
        self.efs = boto3.client("efs", **kw)
        self.lam = boto3.client("lambda", **kw)
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
            more = {k for k, r in resources.items()
                    if k not in left_out and (refs(r) | depends_on(r)) & (left_out - set(made))}
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
        # (Resources of the other flavour are not deployed at all: not listed.)
        types = sorted({resources[k]["Type"] for k in left_out
                        if k not in made and self.condition(resources[k].get("Condition"), values)})
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
        """The resources the service needs that moto's CloudFormation cannot make, through their own
        APIs: before the stack (`after` false) or after it (what needs the stack's resources)."""
        makers = [  # in the order they name each other
            ("AWS::SecretsManager::Secret", False, self.secret),
            ("AWS::KMS::Key", False, self.key),
            ("AWS::KMS::Alias", False, self.key_alias),
            ("AWS::EFS::FileSystem", False, self.file_system),
            ("AWS::EFS::AccessPoint", False, self.access_point),
            ("AWS::ElasticLoadBalancingV2::LoadBalancer", False, self.load_balancer),
            ("AWS::KinesisFirehose::DeliveryStream", True, self.delivery_stream),
            ("AWS::Lambda::Version", True, self.version),
            ("AWS::Lambda::Alias", True, self.alias),
        ]
        made = {}
        for kind, phase, maker in makers:
            for k in sorted(left_out):
                r = resources[k]
                if phase != after or r["Type"] != kind or not self.condition(r.get("Condition"), values):
                    continue
                made[k] = maker(k, r.get("Properties", {}), values, made, physical)
        return made

    def secret(self, _k, p, values, _made, _physical):
        arn = self.secrets.create_secret(Name=resolve(p["Name"], values),
                                         SecretString=resolve(p["SecretString"], values))["ARN"]
        return {"Ref": arn}

    def key(self, _k, p, values, _made, _physical):
        meta = self.kms.create_key(KeySpec=p["KeySpec"], KeyUsage=p["KeyUsage"],
                                   Description=resolve(p["Description"], values))["KeyMetadata"]
        return {"Ref": meta["KeyId"], "Arn": meta["Arn"]}

    def key_alias(self, _k, p, values, made, _physical):
        name = resolve(p["AliasName"], values)
        self.kms.create_alias(AliasName=name, TargetKeyId=made[p["TargetKeyId"]["Ref"]]["Ref"])
        return {"Ref": name}

    def file_system(self, k, p, _values, _made, _physical):
        fs = self.efs.create_file_system(CreationToken=k, Encrypted=bool(p.get("Encrypted")),
                                         PerformanceMode=p.get("PerformanceMode", "generalPurpose"))
        return {"Ref": fs["FileSystemId"], "Arn": fs["FileSystemArn"]}

    def access_point(self, _k, p, _values, made, _physical):
        ap = self.efs.create_access_point(
            FileSystemId=made[p["FileSystemId"]["Ref"]]["Ref"],
            PosixUser={"Uid": int(p["PosixUser"]["Uid"]), "Gid": int(p["PosixUser"]["Gid"])},
            RootDirectory={"Path": p["RootDirectory"]["Path"]})
        return {"Ref": ap["AccessPointId"], "Arn": ap["AccessPointArn"]}

    def load_balancer(self, k, p, values, _made, _physical):
        def ids(node):
            v = resolve(node, values)
            flat = [x for item in (v if isinstance(v, list) else [v]) for x in str(item).split(",")]
            return [x.strip() for x in flat if x.strip()]
        lb = self.elb.create_load_balancer(Name=f"{ENV}-{k}"[:32], Subnets=ids(p.get("Subnets", [])),
                                           SecurityGroups=ids(p.get("SecurityGroups", [])),
                                           Scheme=p.get("Scheme", "internet-facing"),
                                           Type=p.get("Type", "application"))["LoadBalancers"][0]
        full = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[-1]
        return {"Ref": lb["LoadBalancerArn"], "LoadBalancerFullName": full, "DNSName": lb["DNSName"]}

    def delivery_stream(self, _k, p, values, _made, physical):
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
        return {"Ref": name, "Arn": arn}

    def version(self, _k, p, values, _made, physical):
        v = self.lam.publish_version(FunctionName=physical[p["FunctionName"]["Ref"]],
                                     Description=resolve(p["Description"], values))
        return {"Ref": v["FunctionArn"], "Version": v["Version"]}

    def alias(self, _k, p, _values, made, physical):
        a = self.lam.create_alias(FunctionName=physical[p["FunctionName"]["Ref"]], Name=p["Name"],
                                  FunctionVersion=made[p["FunctionVersion"]["Fn::GetAtt"][0]]["Version"])
        return {"Ref": a["AliasArn"]}

    def condition(self, name, values):
        """The flavour's conditions (the only ones on resources made here); no condition: true."""
        conditions = {"Kms": values.get("Flavour") == "kms", "CloudHsm": values.get("Flavour") == "cloudhsm"}
        return conditions.get(name, True) if name else True
