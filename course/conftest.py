"""The course's checks: fixtures shared by every level.

Each level's checks run against one program: the student's
``container.py`` (``make check LEVEL=N``) or the level's reference
``solution.py`` (the default, as ``make test`` runs them).  They are
black-box where they can be: they run the program and look at what the
process inside saw and what it left behind, as minirun's own tests do.

A check's docstring ends with a "Look at:" line; ``course/check.py``
prints it under a check that failed.
"""
import os
import pwd
import subprocess
import sys

import pytest

COURSE = os.path.dirname(os.path.abspath(__file__))
STUDENT = os.environ.get("COURSE_TARGET") == "student"
TEST_USER = os.environ.get("COURSE_USER", "minirun-test")


def level_dir(test_file: str) -> str:
    return os.path.dirname(os.path.abspath(test_file))


@pytest.fixture
def program(request) -> str:
    """The program under check: the student's file or the solution.  The
    student's file is ``container.py`` unless the level's test module names
    another (``STUDENT_FILE = "gpu.py"``)."""
    d = level_dir(str(request.node.fspath))
    student = getattr(request.module, "STUDENT_FILE", "container.py")
    return os.path.join(d, student if STUDENT else "solution.py")


def plain_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        return None


class Runner:
    """``run(*args)``: the program with ``args``, as root or as the plain
    user (``as_user=True``); a CompletedProcess with text output."""

    def __init__(self, program: str):
        self.program = program

    def __call__(self, *args: str, as_user: bool = False, timeout: float = 60,
                 input: str | None = None, env: dict | None = None):
        argv = [sys.executable, self.program, *args]
        if as_user:
            user = plain_user()
            if user is None:
                pytest.skip(f"no user {TEST_USER!r} here (COURSE_USER names another)")
            if os.geteuid() != 0:
                pytest.skip("switching to the plain user needs root")
            argv = ["runuser", "-u", user.pw_name, "--", "env", f"HOME={user.pw_dir}",
                    f"PYTHONPATH={COURSE}", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, env=dict(os.environ, PYTHONPATH=COURSE, **(env or {})))


@pytest.fixture
def run(program) -> Runner:
    return Runner(program)


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("this check runs the program as root (sudo make check ...)")


# --- the short report `course/check.py` asks for -------------------------------------

_results: list[tuple[str, str, str]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        if report.when in ("call", "setup") and (report.when == "call" or report.skipped
                                                  or report.failed):
            _results.append((report.nodeid, report.outcome, report.longreprtext or ""))


def pytest_terminal_summary(terminalreporter, config):
    if not os.environ.get("COURSE_REPORT"):
        return
    write = terminalreporter.write_line
    write("")
    write("== your work, check by check ==")
    for nodeid, outcome, text in _results:
        mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[outcome]
        write(f"{mark} {nodeid.split('::')[-1]}")
        if outcome == "failed":
            hint = _hint(config, nodeid)
            if hint:
                write(f"       look at: {hint}")
            last = [line for line in text.splitlines() if line.startswith("E ")][:3]
            for line in last:
                line = line[1:].strip()
                write(f"       {line if len(line) < 160 else line[:157] + '...'}")
        if outcome == "skipped":
            write(f"       {text.strip().splitlines()[-1] if text.strip() else ''}")


def _hint(config, nodeid: str) -> str:
    for item in getattr(config, "_course_items", []):
        if item.nodeid == nodeid:
            doc = getattr(item.function, "__doc__", "") or ""
            for line in doc.splitlines():
                if line.strip().lower().startswith("look at:"):
                    return line.strip()[len("look at:"):].strip()
    return ""


def pytest_collection_modifyitems(config, items):
    config._course_items = list(items)


# --- a registry for the image levels (10 and 11) ----------------------------------

REPO = os.path.dirname(COURSE)
BUSYBOX_ROOTFS = os.path.join(REPO, ".build", "busybox", "rootfs")    # `make setup` builds it


class Registry:
    """Debian's docker-registry (the CNCF distribution registry) on a free
    loopback port, its storage in a temporary directory; images are pushed
    into it with skopeo, as the real tools would."""

    def __init__(self):
        import socket
        import tempfile
        import time
        import urllib.request
        self.dir = tempfile.mkdtemp(prefix="course-registry-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.addr = f"127.0.0.1:{s.getsockname()[1]}"
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.dir}/data\nhttp:\n  addr: {self.addr}\n")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("docker-registry did not start") from None
                time.sleep(0.05)

    def push_layout(self, layout: str, name: str, *flags: str) -> None:
        """Copy the OCI layout ``layout`` to ``REGISTRY/name`` (REPO:TAG);
        ``flags`` are skopeo's (``--all``, ``--format v2s2``)."""
        subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", *flags,
                        f"oci:{layout}", f"docker://{self.addr}/{name}"], check=True,
                       capture_output=True)

    def push_layers(self, name: str, layers: list[tuple[bytes, str, dict | None]]) -> dict:
        """An image of the given layers (blob, media type, annotations) pushed
        as ``name`` (REPO:TAG) through the distribution API itself, blob by
        blob (skopeo would compress an uncompressed layer); its manifest."""
        import gzip
        import hashlib
        import json
        import platform
        import urllib.parse
        import urllib.request
        repo, _, tag = name.rpartition(":")
        base = f"http://{self.addr}/v2/{repo}"

        def upload(data: bytes) -> dict:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            with urllib.request.urlopen(urllib.request.Request(f"{base}/blobs/uploads/",
                                                               method="POST")) as r:
                where = urllib.parse.urljoin(base, r.headers["Location"])
            where += ("&" if "?" in where else "?") + "digest=" + urllib.parse.quote(digest)
            urllib.request.urlopen(urllib.request.Request(
                where, data=data, method="PUT",
                headers={"Content-Type": "application/octet-stream"})).close()
            return {"digest": digest, "size": len(data)}

        diff_ids = ["sha256:" + hashlib.sha256(
            gzip.decompress(data) if mt.endswith("gzip") else data).hexdigest()
            for data, mt, _ in layers]
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                           platform.machine())
        config = {"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       **upload(json.dumps(config).encode())},
            "layers": [{"mediaType": mt, **upload(data), **({"annotations": a} if a else {})}
                       for data, mt, a in layers]}
        urllib.request.urlopen(urllib.request.Request(
            f"{base}/manifests/{tag}", data=json.dumps(manifest).encode(), method="PUT",
            headers={"Content-Type": manifest["mediaType"]})).close()
        return manifest

    def blob_file(self, digest: str) -> str:
        """Where the registry keeps a blob (to tamper with it)."""
        return os.path.join(self.dir, "data", "docker", "registry", "v2", "blobs", "sha256",
                            digest[7:9], digest[7:], "data")

    def stop(self) -> None:
        import shutil
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def registry():
    """A registry with busybox in it (``course/busybox:latest``, built from
    ``.build/busybox/rootfs`` by rootfs-tools/build-image), for the session."""
    import shutil
    import tempfile
    for tool in ("docker-registry", "skopeo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup-host installs it)")
    if not os.path.exists(os.path.join(BUSYBOX_ROOTFS, "bin", "busybox")):
        subprocess.run([os.path.join(REPO, "rootfs-tools", "busybox-rootfs"), BUSYBOX_ROOTFS],
                       check=True, capture_output=True)
    r = Registry()
    try:
        with tempfile.TemporaryDirectory(prefix="course-busybox-") as d:
            subprocess.run([sys.executable, os.path.join(REPO, "rootfs-tools", "build-image"),
                            f"{d}/busybox", "--layer", BUSYBOX_ROOTFS], check=True,
                           capture_output=True)
            r.push_layout(f"{d}/busybox", "course/busybox:latest")
        yield r
    finally:
        r.stop()
