"""The environments' parameters: production reaches BACEN's RSFN endpoints, never the simulator's ports."""
import json

from conftest import ROOT

SIMULATOR_PORTS = ("8181", "8282", "9191", "9192", "7171")


def test_production_names_bacens_endpoints():
    prod = json.loads((ROOT / "environments" / "prod.json").read_text())
    keys = prod["parameters"]["keys"]
    # docs/deployment.md "BACEN's endpoints" gives each one's source.
    assert keys["BcbSpiEndpoint"] == "icom.pi.rsfn.net.br:16422"
    assert keys["BcbDictEndpoint"] == "dict.pi.rsfn.net.br:16422"
    assert keys["BcbDictKeyCheckEndpoint"] == "dict-np.pi.rsfn.net.br:16432"
    network = prod["parameters"]["network"]
    assert network["BacenPorts"].split(",") == ["16422", "16432", "17422"]
    # The secondary channel's port is one the egress opens.
    assert keys["BcbSpiSecondaryEndpoint"].rsplit(":", 1)[1] in network["BacenPorts"].split(",")
    assert network["RsfnTransitGatewayId"], "production routes BACEN's range to the RSFN"
    text = json.dumps(prod)
    assert not [p for p in SIMULATOR_PORTS if p in text], "a simulator port in production"
    assert "simulator" not in prod["stacks"]


def test_the_egress_rules_follow_the_parameters():
    network = (ROOT / "stacks" / "network.yaml").read_text()
    for n in range(3):
        assert f"FromPort: !Select [{n}, !Ref BacenPorts]" in network
    proxy_group = network.split("  ProxySecurityGroup:")[1].split("  ProxyFromLoadBalancer:")[0]
    assert not [p for p in SIMULATOR_PORTS if p in proxy_group], "a fixed simulator port in the proxy's egress"
