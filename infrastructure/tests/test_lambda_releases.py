"""Lambda releases (kms-lambda.yaml): each deployment names its code artefact by S3 object version,
publishes a version of each function, and the API invokes the alias `live` that points at it."""
import json

from cfnlint.decode import cfn_yaml

from conftest import ROOT


def template():
    return json.loads(json.dumps(cfn_yaml.load(str(ROOT / "stacks" / "kms-lambda.yaml"))))


def test_every_function_is_released_through_a_version_and_an_alias():
    t = template()
    assert "CodeObjectVersion" in t["Parameters"] and "Default" not in t["Parameters"]["CodeObjectVersion"]
    r = t["Resources"]
    functions = [k for k, v in r.items() if v["Type"] == "AWS::Lambda::Function"]
    assert sorted(functions) == ["DictFunction", "SpiFunction"]
    for f in functions:
        family = f.removesuffix("Function")
        assert r[f]["Properties"]["Code"]["S3ObjectVersion"] == {"Ref": "CodeObjectVersion"}
        version = r[f"{family}Version"]
        assert version["Type"] == "AWS::Lambda::Version"
        assert version["Properties"]["FunctionName"] == {"Ref": f}
        # A new artefact changes the version's description, so CloudFormation publishes a new
        # version; the old one is kept for a rollback.
        assert "${CodeObjectVersion}" in version["Properties"]["Description"]["Fn::Sub"]
        assert version["UpdateReplacePolicy"] == "Retain" and version["DeletionPolicy"] == "Retain"
        alias = r[f"{family}Alias"]
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [f"{family}Version", "Version"]}
        # The API invokes the alias, never $LATEST, and may invoke only it.
        uri = r[f"{family}ProxyMethod"]["Properties"]["Integration"]["Uri"]["Fn::Sub"]
        assert f"${{{family}Alias}}" in uri and f"{f}.Arn" not in uri
        assert r[f"{family}InvokePermission"]["Properties"]["FunctionName"] == {"Ref": f"{family}Alias"}
