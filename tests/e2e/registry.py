"""A real OCI registry for the tests: Debian's docker-registry (the CNCF
distribution registry) on a free loopback port, optionally behind htpasswd
basic auth; images built here and pushed with skopeo."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, users: dict[str, str] | None = None, token: bool = False):
        if shutil.which("docker-registry") is None:
            raise RuntimeError("docker-registry is not installed: run scripts/setup-host")
        self.dir = tempfile.mkdtemp(prefix="minirun-registry-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        auth = ""
        if users:
            htpasswd = os.path.join(self.dir, "htpasswd")
            for i, (user, password) in enumerate(users.items()):
                subprocess.run(["htpasswd", "-bB" + ("c" if i == 0 else ""), htpasswd, user,
                                password], check=True, capture_output=True)
            auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
        self.token = None
        if token:
            from tests.e2e.token import TokenServer
            self.token = TokenServer(self.dir)
            auth = self.token.registry_config()
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.dir}/data\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.addr}\n{auth}")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1)
                break
            except urllib.error.HTTPError:
                break          # 401: up, and wants a login
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(
                        f"docker-registry did not start: see {self.dir}/log") from None
                time.sleep(0.05)

    def push(self, layout: str, name: str, creds: str | None = None,
             all_platforms: bool = False, fmt: str | None = None) -> None:
        args = ["skopeo", "copy", "-q", "--dest-tls-verify=false"]
        if all_platforms:
            args.append("--all")
        if fmt:
            args += ["--format", fmt]
        if creds:
            args += ["--dest-creds", creds]
        subprocess.run(args + [f"oci:{layout}", f"docker://{self.addr}/{name}"], check=True,
                       capture_output=True)

    def blob_file(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.dir, "data", "docker", "registry", "v2", "blobs", "sha256",
                            hexd[:2], hexd, "data")

    def stop(self) -> None:
        if self.token:
            self.token.stop()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
