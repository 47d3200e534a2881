"""What every part of the deployment rehearsal shares: where things are, the steps' record, ports,
processes and HTTP."""
import json
import os
import pathlib
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
INFRA = ROOT / "infrastructure"
REGION = "sa-east-1"
ENV = "rehearsal"
ISPB = "99999010"  # samples/pacs.008.xml's sender
SOFTHSM = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
                if os.path.exists(p)), None)
HSM_USER, HSM_PASSWORD = "crypto-user", "rehearsal-password"
UID = 10001

steps = []


def step(name, ok, detail=""):
    steps.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30, proc=None):
    end = time.time() + seconds
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def caller_tls(pki, name="caller"):
    """The TLS client of a bank service: trusts the dev PKI's bank CA (which certifies the proxy)
    and presents `<name>.cer` (None: no client certificate)."""
    context = ssl.create_default_context(cafile=str(pki / "bank-ca.cer"))
    if name:
        context.load_cert_chain(str(pki / f"{name}.cer"), str(pki / f"{name}.key"))
    return context


def http(method, url, body=None, headers=None, context=None):
    """(status, body); (None, the reason) when no HTTP answer came (a refused TLS handshake)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


def start_moto(out, procs):
    """moto's server on a free port, every request recorded in `out/moto-recording.jsonl`; its
    endpoint, or None (a failed step) when it does not start."""
    port = free_port()
    env = dict(os.environ, MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=str(out / "moto-recording.jsonl"))
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(out / "moto.log", "w"))
    procs.append(moto)
    return f"http://127.0.0.1:{port}" if step("moto's server", wait_port(port, proc=moto)) else None


class Bacen:
    """BACEN's simulator with the dev PKI `pki`, hosting the sender ISPB with its certificates."""

    def __init__(self, binaries, out, pki, mtls_cert, signature_cert):
        self.spi, self.secondary, self.dict, self.key_check, self.check = (free_port() for _ in range(5))
        schemas = ROOT.parent / "shared/fixtures/xsd"
        self.args = [str(binaries / "simulator"), "serve", "--pki", str(pki), "--spi-port", str(self.spi),
                     "--spi-secondary-port", str(self.secondary),
                     "--dict-port", str(self.dict), "--dict-key-check-port", str(self.key_check),
                     "--check-port", str(self.check), "--participant", f"{ISPB}:{mtls_cert}:{signature_cert}",
                     *(["--schemas", str(schemas)] if schemas.is_dir() else [])]
        self.out, self.proc, self.runs = out, None, 0

    def start(self, procs):
        """Starts it; whether it listens."""
        self.runs += 1
        self.proc = subprocess.Popen(self.args, stdout=open(self.out / f"simulator-{self.runs}.log", "w"),
                                     stderr=subprocess.STDOUT)
        procs.append(self.proc)
        return wait_port(self.spi, proc=self.proc) and wait_port(self.dict, proc=self.proc)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

    def endpoints(self):
        """The keys stack's parameters that point the proxy at it (ICOM's secondary channel
        included, moved to after 2 s of failures)."""
        return {"BcbSpiEndpoint": f"127.0.0.1:{self.spi}", "BcbDictEndpoint": f"127.0.0.1:{self.dict}",
                "BcbDictKeyCheckEndpoint": f"127.0.0.1:{self.key_check}",
                "BcbSpiSecondaryEndpoint": f"127.0.0.1:{self.secondary}", "BcbFailoverSeconds": "2"}

    def primary(self, up):
        """Takes ICOM's primary channel down (its port refuses connections) or back up."""
        status, _ = http("POST", f"http://127.0.0.1:{self.check}/primary?up={'true' if up else 'false'}")
        return status == 204

    def secondary_requests(self):
        """Requests ICOM's secondary channel answered so far."""
        status, body = http("GET", f"http://127.0.0.1:{self.check}/stats")
        return json.loads(body)["secondary_requests"] if status == 200 else -1
