"""A container started as its image (the Dockerfile's final stage) and its task definition state
it, outside a container engine: an overlay of this machine's root, chroot, the image's user."""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess

from .common import INFRA, ROOT, SOFTHSM


def dockerfile():
    """The final stage of the proxy's Dockerfile: user, workdir, entrypoint, cmd, copies, dirs."""
    text = (INFRA / "docker" / "proxy-hsm.Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    final = text.split("\nFROM ")[-1]
    image = {"copies": [], "dirs": [], "user": None, "workdir": "/", "entrypoint": [], "cmd": []}
    for line in final.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "USER":
            image["user"] = rest.strip()
        elif word == "WORKDIR":
            image["workdir"] = rest.strip()
        elif word in ("ENTRYPOINT", "CMD"):
            image[word.lower()] = json.loads(rest)
        elif word == "COPY":
            args = rest.split()
            image["copies"].append((args[0].startswith("--from"), args[-2], args[-1]))
        elif word == "RUN":
            for m in re.finditer(r"useradd ([^&]*)", rest):
                uid = re.search(r"--uid (\d+)", m.group(1))
                image["uid"] = int(uid.group(1))
                image["username"] = m.group(1).split()[-1]
            for m in re.finditer(r"install -d ((?:-[og] \S+ )*)([^&]*)", rest):
                image["dirs"] += m.group(2).split()
    return image


class Container:
    """A task's container, started as its image and task definition state it, outside an engine."""

    def __init__(self, out, image, task, env, binaries, token_dir, spool):
        self.out, self.image, self.task, self.env = out, image, task, env
        self.binaries, self.token_dir, self.spool = binaries, token_dir, spool
        self.root = out / "rootfs"
        self.proc = None

    def prepare(self):
        """The image's layer, written into an overlay's upper directory."""
        upper = self.out / "layer"
        shutil.rmtree(upper, ignore_errors=True)
        for d in (upper, self.out / "work"):
            d.mkdir(parents=True, exist_ok=True)
        for from_build, src, dst in self.image["copies"]:
            if "cloudhsm-pkcs11" in src:
                continue  # AWS's CloudHSM client package: stood in for below.
            source = self.binaries / pathlib.Path(src).name if from_build else ROOT / src
            target = upper / dst.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        uid, user = self.image["uid"], self.image["username"]
        etc = upper / "etc"
        etc.mkdir(exist_ok=True)
        for name, line in (("passwd", f"{user}:x:{uid}:{uid}::/var/lib/{user}:/usr/sbin/nologin\n"),
                           ("group", f"{user}:x:{uid}:\n")):
            (etc / name).write_text(pathlib.Path(f"/etc/{name}").read_text() + line)
        for d in self.image["dirs"]:
            path = upper / d.lstrip("/")
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, uid, uid)
        # Stand-ins for the CloudHSM client: SoftHSM's module where the client's library goes, and
        # a configure-pkcs11 that checks what the start gives it (mock: not available outside AWS).
        lib = upper / "opt/cloudhsm/lib"
        lib.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOFTHSM, lib / "libcloudhsm_pkcs11.so")
        tool = upper / "opt/cloudhsm/bin/configure-pkcs11"
        tool.parent.mkdir(parents=True, exist_ok=True)
        tool.write_text("#!/bin/sh\n# Stand-in for AWS's configure-pkcs11 (deployment rehearsal).\nset -eu\n"
                        '[ "$1" = --cluster-id ] && [ -n "$2" ] && [ "$3" = --region ] && [ -n "$4" ] '
                        '|| { echo "configure-pkcs11: unexpected arguments: $*" >&2; exit 2; }\n'
                        "grep -q 'BEGIN CERTIFICATE' /opt/cloudhsm/etc/customerCA.crt "
                        "|| { echo 'configure-pkcs11: no customer CA' >&2; exit 2; }\n"
                        'echo "$*" > /opt/cloudhsm/etc/configured\n')
        tool.chmod(0o755)
        conf = upper / "etc/softhsm/softhsm2.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f"directories.tokendir = {self.token_dir}\nobjectstore.backend = file\n")
        self.root.mkdir(exist_ok=True)

    def command(self):
        c = self.task
        argv = self.image["entrypoint"] + (c.get("command") or self.image["cmd"])
        user = c.get("user") or self.image["user"]
        uid = self.image["uid"] if user == self.image["username"] else int(user)
        workdir = c.get("workingDirectory") or self.image["workdir"]
        mounts = [f"mount --bind {self.spool} {self.root}{m['containerPath']}" for m in c.get("mountPoints", [])]
        script = " && ".join([
            # Nothing mounted here propagates out. Where / is no mount point (a chroot), unshare
            # cannot make it private: the root directory is made a private mount of its own.
            f"{{ mount --make-rprivate / 2>/dev/null || {{ mount --bind {self.root} {self.root} "
            f"&& mount --make-private {self.root}; }}; }}",
            f"mount -t overlay overlay -o lowerdir=/,upperdir={self.out}/layer,workdir={self.out}/work {self.root}",
            f"mount -t proc proc {self.root}/proc",
            f"mount --rbind /dev {self.root}/dev",
            *mounts,
            f"exec chroot {self.root} setpriv --reuid {uid} --regid {uid} --clear-groups "
            f"sh -c 'cd {workdir} && exec \"$@\"' container " + " ".join(f"'{a}'" for a in argv),
        ])
        return ["unshare", "--mount", "--propagation", "unchanged", "--fork", "sh", "-c", script]

    def start(self, log):
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self.proc

    def exec(self, argv):
        """A command inside the running container (its health check): its mount namespace, root
        and working directory, as `docker exec` would run it."""
        inside = [p.name for p in pathlib.Path("/proc").iterdir() if p.name.isdigit()
                  and int(p.name) != self.proc.pid and is_child(int(p.name), self.proc.pid)]
        if not inside:
            return subprocess.CompletedProcess(argv, 1, "", "the container runs no process")
        return subprocess.run(["nsenter", "-t", inside[0], "-m", "-r", "-w", *argv], capture_output=True, text=True)

    def stop(self, sig=signal.SIGTERM, timeout=None):
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None


def is_child(pid, ancestor):
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False
