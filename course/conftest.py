"""The course's checks: fixtures shared by every level.

Each level's checks run against one program: the student's
``container.py`` (``make check LEVEL=N``) or the level's reference
``solution.py`` (the default, as ``make test`` runs them).  They are
black-box where they can be: they run the program and look at what the
process inside saw and what it left behind, as minirun's own tests do.

A check's docstring ends with a "Look at:" paragraph; ``course/check.py``
prints it under a check that failed, with the last lines of what went
wrong, and says why a check was skipped.
"""
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

COURSE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(COURSE)
STUDENT = os.environ.get("COURSE_TARGET") == "student"
TEST_USER = os.environ.get("COURSE_USER", "minirun-test")
# `make setup` (or `make check`) builds it in the repo that holds course/;
# a copy of course/ elsewhere names it with COURSE_ROOTFS=DIR.
BUSYBOX_ROOTFS = os.environ.get("COURSE_ROOTFS") or os.path.join(REPO, ".build", "busybox",
                                                                 "rootfs")

sys.path.insert(0, COURSE)
from lib import linux  # noqa: E402  (course/lib/linux.py)


def level_dir(test_file: str) -> str:
    return os.path.dirname(os.path.abspath(test_file))


def level_of(request) -> int:
    """The level of the check asking (03-mount-rootfs: 3)."""
    return int(os.path.basename(level_dir(str(request.node.fspath))).split("-")[0])


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
                pytest.skip("switching to the plain user needs root: run it with sudo")
            argv = ["runuser", "-u", user.pw_name, "--", "env", f"HOME={user.pw_dir}",
                    f"PYTHONPATH={COURSE}", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, env=dict(os.environ, PYTHONPATH=COURSE, **(env or {})))


@pytest.fixture
def run(program) -> Runner:
    return Runner(program)


@pytest.fixture
def root_only(request):
    if os.geteuid() != 0:
        level = level_of(request)
        pytest.skip(f"the program must run as root: sudo make check LEVEL={level} "
                    f"(or sudo .venv/bin/python course/check.py {level})")


@pytest.fixture(scope="session")
def busybox() -> str:
    """The busybox root the checks copy (never write to it)."""
    if not os.path.exists(os.path.join(BUSYBOX_ROOTFS, "bin", "busybox")):
        pytest.skip(f"no busybox root at {BUSYBOX_ROOTFS}: `make setup` (or `make check "
                    f"LEVEL=N`) in the repo builds it; for a copy of course/ outside the repo, "
                    f"COURSE_ROOTFS=DIR names one")
    return BUSYBOX_ROOTFS


# --- mounts: as on a systemd host, and nothing left behind -------------------------

def mounted_under(path: str) -> list[str]:
    """Our mount namespace's mount points at or below ``path``."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


@pytest.fixture
def scratch_dirs():
    """``scratch_dirs(prefix)``: a new directory for this check alone.  Afterwards
    whatever is still mounted under it is detached (deepest first) and the
    check fails, naming it; then the directory is removed."""
    made = []

    def make(prefix: str) -> str:
        made.append(tempfile.mkdtemp(prefix=prefix))
        return made[-1]

    yield make
    left = []
    for top in made:
        points = sorted(set(mounted_under(top)), key=len, reverse=True)
        for point in points:
            with contextlib.suppress(OSError):
                linux.umount2(point, linux.MNT_DETACH)
        left += [os.path.relpath(point, top) for point in points]
        shutil.rmtree(top)
    if left:
        pytest.fail(f"left mounted on the host when the program ended: {', '.join(left)} "
                    f"(detached now)")


@pytest.fixture(scope="module")
def shared_mounts():
    """The module's checks run as on a systemd host, where every mount is
    *shared* (mount_namespaces(7)): without make_mounts_private() a
    container's mounts would reach the host, and pivot_root(2) refuses a
    shared mount (EINVAL).  Many test machines have private mounts, which
    would hide a missing make_mounts_private(), so this test process moves
    into a mount namespace of its own, cuts it off from the real host
    (MS_PRIVATE: nothing made there reaches the host, whatever the program
    does) and makes every mount in it shared (MS_SHARED), for the module;
    then it goes back.  As a plain user (checks that need root skip) it
    does nothing."""
    if os.geteuid() != 0:
        yield
        return
    host, cwd = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC), os.getcwd()
    try:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount("none", "/", None, linux.MS_REC | linux.MS_SHARED)
        yield
    finally:
        linux.setns(host, linux.CLONE_NEWNS)    # the namespace, and its mounts, are freed
        os.close(host)
        os.chdir(cwd)                           # setns moved us to its "/"


# --- the short report `course/check.py` asks for -------------------------------------

_results: dict[str, tuple[str, list[str]]] = {}    # nodeid: (outcome, lines to print)
_RUNTIME_SAYS = re.compile(r"container: (parent \d+ started child \d+"
                           r"|pid 1 of the new namespace is host pid \d+)")
_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION = re.compile(r"(\w+\.)*[A-Z]\w*(: |$)")      # NotImplementedError: show


def pytest_runtest_logreport(report):
    # (a hook of this conftest sees every report of the session, the
    # project's tests' too when `make test` runs both: only check.py's count)
    if not os.environ.get("COURSE_REPORT") or report.when != "call" and report.passed:
        return
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else \
            getattr(report, "wasxfail", "") or str(report.longrepr)
        said = [str(reason).removeprefix("Skipped: ")]
    else:
        said = _what_went_wrong(report.longreprtext or "")
    before = _results.get(report.nodeid)
    if before and before[0] == "failed":        # and then its clean-up failed too
        said = [*before[1], *(f"afterwards: {line}" for line in said)]
    _results[report.nodeid] = (report.outcome if not before or before[0] != "failed"
                               else "failed", said)


def _what_went_wrong(text: str) -> list[str]:
    """A failure in a few lines, from pytest's ``E`` lines: the first line
    of the message and its last two; a traceback the program printed
    shrinks to its last line (the exception), and the lines every run
    prints are left out.  Without a message, pytest's own first line
    (``assert 125 == 3``)."""
    said = textwrap.dedent("\n".join(line[1:] for line in text.splitlines()
                                     if line.startswith("E "))).splitlines()
    message = said
    if said and said[0].startswith("AssertionError"):
        ends = [i for i, line in enumerate(said) if line.startswith("assert ")]
        message = said[:ends[0]] if ends else said
    if not message:
        return said[:1]                         # not its "+ where ..." lines
    for prefix in ("AssertionError: ", "Failed: "):
        message[0] = message[0].removeprefix(prefix)
    message = [message[0], *textwrap.dedent("\n".join(message[1:])).splitlines()]
    kept, traceback = [], None     # while in a traceback: its indentation
    for line in _split_tracebacks(message):
        indent = len(line) - len(line.lstrip())
        line = _RUNTIME_SAYS.sub("", line).strip()
        if line == _TRACEBACK:
            traceback = indent
        elif traceback is not None and (not line or indent > traceback):
            pass                                # its frames
        elif traceback is not None and _EXCEPTION.match(line):
            kept.append(line)
            traceback = None
        elif line:
            kept.append(line)
    return kept if len(kept) <= 3 else [kept[0], "...", *kept[-2:]]


def _split_tracebacks(lines: list[str]):
    """The runtime and its init write to one pipe, so a traceback's first
    line can land after another line's text: that line, split in two."""
    for line in lines:
        at = line.find(_TRACEBACK)
        if at > 0 and line[:at].strip():
            yield line[:at]
            line = line[:len(line) - len(line.lstrip())] + line[at:]
        yield line


def _hint(config, nodeid: str) -> str:
    """The check's "Look at:" paragraph, joined into one line."""
    for item in getattr(config, "_course_items", []):
        if item.nodeid == nodeid:
            doc = textwrap.dedent(getattr(item.function, "__doc__", "") or "")
            m = re.search(r"^\s*look at:(.*?)(\n\s*\n|\Z)", doc, re.I | re.M | re.S)
            return " ".join(m.group(1).split()) if m else ""
    return ""


def pytest_collection_modifyitems(config, items):
    config._course_items = list(items)


def _nothing_ran() -> list[str]:
    """Why no check ran, when none did: each skip's reason, once."""
    if not _results or any(outcome != "skipped" for outcome, _ in _results.values()):
        return []
    return list(dict.fromkeys(said[0] for _, said in _results.values()))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("COURSE_REPORT") and _nothing_ran():
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED     # not a pass


def pytest_terminal_summary(terminalreporter, config):
    if not os.environ.get("COURSE_REPORT"):
        return
    write = terminalreporter.write_line
    write("")
    write("== your work, check by check ==")
    reasons = _nothing_ran()
    for nodeid, (outcome, said) in _results.items():
        mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[outcome]
        write(f"{mark} {nodeid.split('::')[-1]}")
        if outcome == "failed" and _hint(config, nodeid):
            write(textwrap.fill(_hint(config, nodeid), 96, initial_indent="       look at: ",
                                subsequent_indent=" " * 16))
        for line in said if not reasons else []:    # (then said once, below)
            write(f"       {line if len(line) < 160 else line[:157] + '...'}")
    if reasons:
        write("")
        write(f"no check ran: {reasons[0]}" if len(reasons) == 1 else "no check ran:")
        for reason in reasons[1:] if len(reasons) == 1 else reasons:
            write(f"  {reason}")


# --- a registry for the image levels (10 and 11) ----------------------------------

class Registry:
    """Debian's docker-registry (the CNCF distribution registry) on a free
    loopback port, its storage in a temporary directory; images are pushed
    into it with skopeo, as the real tools would."""

    def __init__(self):
        import socket
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
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def registry():
    """A registry with busybox in it (``course/busybox:latest``, built from
    ``.build/busybox/rootfs`` by rootfs-tools/build-image), for the session."""
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
