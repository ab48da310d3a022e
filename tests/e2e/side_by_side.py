"""The side-by-side with podman (issue 18): the commands a podman user types
every day, run the same way on podman 4.3 and on minirun, and what a script
would read compared.

    python -m tests.e2e.side_by_side [-k PATTERN] [--rootless] [-v] [--show]

run as root (``--rootless`` runs both tools as the test user, as the
fixtures do) prints one line per case, SAME or DIFF with the first
difference, then ``same: N of M``; ``--show`` prints every step's output
on both sides.  tests/e2e/test_side_by_side.py runs the same cases under
pytest.

How it is built, in reading order:

- a :class:`Case` is a name and a list of steps.  A step is a line of the
  tool's arguments (``ps -a --format '{{.Names}}'``), or, after ``$ ``, a
  shell line in which ``T`` is the tool (``$ T export sbs-c > $D/e.tar``).
  ``$D`` is a scratch directory of the side's, emptied after each case,
  ``$IMG`` the busybox image as an oci-archive, ``{port}`` a free host
  port of the side's.
- every step's exit code, stdout (through a normaliser: ids, times, sizes,
  addresses, table padding and the side's own paths become placeholders)
  and the first word of stderr are compared; a step can compare less
  (:class:`Step`).
- then the side effects: which containers, images and volumes there are
  (read from ``ps -a``, ``images`` and ``volume ls`` as JSON, so that a
  bug in one template does not make every case differ: the template forms
  have cases of their own).
- a :class:`Side` is one tool with a private store (podman: ``--root``,
  ``--runroot``, vfs, its own containers.conf, events log and network
  directory; minirun: ``--root``, ``--runroot``), busybox loaded from the
  tests' root filesystem.  A :class:`Pair` runs a case on both sides at
  once, then puts each store back as it was (busybox only).

Where podman 4.3 is wrong, the case says so (``podman_bug``) and expects
minirun's better answer (``better``) instead of podman's.  The cases that
differ today are :data:`DIFFERS_TODAY`, with the difference: the pytest
file marks them xfail(strict), so that a fixed one fails until its entry
goes.
"""
import argparse
import concurrent.futures
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from tests.conftest import REPO, ROOTFS, TEST_USER, processes

MINIRUN = os.path.join(os.path.dirname(sys.executable), "minirun")
STEP_TIMEOUT = 60

# (CONTAINERS_CONF replaces the distribution's file: what it sets that matters
# here, its 11 default capabilities and its ping sysctl, is said again)
PODMAN_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
default_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
default_sysctls = ["net.ipv4.ping_group_range=0 0"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{dir}/events.log"
tmp_dir = "{dir}/tmp"
[network]
network_config_dir = "{dir}/networks"
"""
REGISTRIES_CONF = "unqualified-search-registries = []\n"


# --- cases -----------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One command of a case and what of its result is compared.

    out: "norm" (stdout through the normaliser), "sorted" (its lines in any
    order), "head" (the first line: a table's headers), "ignore", or
    "keys:A,B,..." (for JSON: which of these keys the first object has).
    err: "first" (stderr's first word) or "ignore" (progress a script does
    not read).  The exit code is always compared."""
    line: str
    out: str = "norm"
    err: str = "first"


@dataclass(frozen=True)
class Case:
    """Steps run the same way on both sides, then the side effects.

    better: where podman is wrong (podman_bug says how), minirun's expected
    answer for a step instead of podman's: {step index: {"code": 1, ...}};
    rootless_better the same for a plain user only.  root_only: why the
    case cannot run as a plain user."""
    name: str
    steps: tuple
    podman_bug: str = ""
    better: dict = field(default_factory=dict)
    rootless_better: dict = field(default_factory=dict)
    root_only: str = ""

    def step(self, i: int) -> Step:
        s = self.steps[i]
        return s if isinstance(s, Step) else Step(s)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


# --- what is compared --------------------------------------------------------

_AGO = re.compile(r"\b(Less than a second|About an? \w+|\d+ (seconds?|minutes?|hours?|days?|"
                  r"weeks?|months?|years?)) ago\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?( ?(Z|[+-]\d\d:?\d\d)( \w+)?)?"
                   r"( m=[+-][\d.]+)?")
_SIZE = re.compile(r"\b\d+(\.\d+)?\s?([kKMGT]i?B|B|kb|mb|gb)\b")
_IP = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
_ID = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b")
_DURATION = re.compile(r"\b\d+(\.\d+)?(ms|s|µs|m)\b")


def normalise(text: str, side: "Side") -> str:
    """Replace what is bound to differ between two runs (ids, times, sizes,
    addresses, the side's own paths and port) by placeholders, and a table's
    padding by two spaces."""
    text = text.replace(side.work, "$D").replace(side.dir, "<SIDE>")
    text = _TIME.sub("<TIME>", text)
    text = _AGO.sub("<AGO>", text)
    text = _ID.sub("<ID>", text)
    text = re.sub(rf"\b{side.port}\b", "<PORT>", text)
    text = _SIZE.sub("<SIZE>", text)
    text = _IP.sub("<IP>", text)
    text = _DURATION.sub("<DURATION>", text)
    text = re.sub(r" {2,}", "  ", text)     # table columns: their widths follow the values
    return "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n"))


def _json_keys(text: str, keys: list[str]) -> str:
    try:
        obj = json.loads(text)
    except ValueError:
        return f"not JSON: {text[:60]!r}"
    if isinstance(obj, list):
        obj = obj[0] if obj else {}
    if not isinstance(obj, dict):
        return f"not an object: {text[:60]!r}"
    return " ".join(k if k in obj else f"-{k}" for k in keys)


def shown(result: Result, step: Step, side: "Side") -> Result:
    """What of a step's result is compared, in the form compared."""
    out = normalise(result.out, side)
    if step.out == "sorted":
        out = "\n".join(sorted(out.split("\n")))
    elif step.out == "head":
        out = out.split("\n")[0]
    elif step.out == "ignore":
        out = ""
    elif step.out.startswith("keys:"):
        out = _json_keys(result.out, step.out[5:].split(","))
    err = ""
    if step.err == "first":
        lines = [ln for ln in result.err.splitlines()
                 if ln.strip() and not ln.startswith(("WARN[", "time="))]
        err = lines[0].split()[0] if lines else ""
    return Result(result.code, out, err)


def difference(a: Result, b: Result) -> str:
    """The first way minirun's result (b) differs from podman's (a), or ''."""
    if a.code != b.code:
        return f"exit {a.code} vs {b.code}" + (f" ({_short(b.err)})" if b.err else "")
    if a.out != b.out:
        return "stdout " + _first_difference(a.out, b.out)
    if a.err != b.err:
        return f"stderr {_short(a.err)} vs {_short(b.err)}"
    return ""


def _first_difference(a: str, b: str) -> str:
    """Two outputs, or their first differing lines where they are longer."""
    if "\n" not in a + b:
        return f"{_short(a)} vs {_short(b)}"
    a_lines, b_lines = a.split("\n"), b.split("\n")
    n = next(i for i in range(max(len(a_lines), len(b_lines)))
             if a_lines[i:i + 1] != b_lines[i:i + 1])
    a_line, b_line = ((_short(lines[n]) if n < len(lines) else "(no line)")
                      for lines in (a_lines, b_lines))
    return f"line {n + 1}: {a_line} vs {b_line}"


def _short(text: str, width: int = 70) -> str:
    text = repr(text)
    return text if len(text) <= width else text[:width - 4] + "...'"


# --- the two tools -----------------------------------------------------------

EFFECTS = (("ps -a --format json", "Names"), ("images --format json", "Names"),
           ("volume ls --format json", "Name"))


def _as_list(value) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


class Side:
    """One tool (podman or minirun) with a private store, as root or as the
    test user.  Every step runs as ``sh -c`` in which ``T`` is the tool."""

    def __init__(self, tool: str, base: str, user, image: str, registries: str):
        self.tool, self.user, self.image = tool, user, image
        self.dir = os.path.join(base, tool[0])
        self.work = os.path.join(self.dir, "w")     # $D: emptied after each case
        os.makedirs(os.path.join(self.dir, "xdg"), mode=0o700)
        os.makedirs(self.work)
        self.port = _free_port()
        env = {"CONTAINERS_REGISTRIES_CONF": registries, "IMG": image, "D": self.work,
               "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if tool == "podman":
            conf = os.path.join(self.dir, "containers.conf")
            with open(conf, "w") as f:
                f.write(PODMAN_CONF.format(dir=self.dir))
            os.makedirs(os.path.join(self.dir, "networks"))
            env["CONTAINERS_CONF"] = conf
            self.argv = ["podman", "--root", f"{self.dir}/root", "--runroot",
                         f"{self.dir}/run", "--storage-driver", "vfs"]
        else:
            self.argv = [MINIRUN, "--root", f"{self.dir}/root", "--runroot", f"{self.dir}/run"]
        if user:
            env.update(HOME=user.pw_dir, XDG_RUNTIME_DIR=f"{self.dir}/xdg", USER=user.pw_name)
            subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", self.dir], check=True)
        self.env = env
        self.prelude = f"T() {{ {shlex.join(self.argv)} \"$@\"; }}\n"

    def sh(self, line: str, timeout: float = STEP_TIMEOUT) -> Result:
        """Run one step: ``$ `` and a shell line, or the tool's arguments."""
        script = line[2:] if line.startswith("$ ") else "T " + line
        script = self.prelude + script.replace("{port}", str(self.port))
        argv = ["env", "-i", *(f"{k}={v}" for k, v in self.env.items()), "sh", "-c", script]
        if self.user:
            argv = ["runuser", "-u", self.user.pw_name, "--"] + argv
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL, cwd=self.dir, errors="replace")
        except subprocess.TimeoutExpired:
            return Result(-1, "", f"timed out after {timeout} s")
        return Result(p.returncode, p.stdout, p.stderr)

    def effects(self) -> list[str]:
        """The containers, images and volumes there are after a case, read
        from the listings' JSON (the template forms have cases of their own,
        so that one listing's bug does not make every case differ)."""
        found = []
        for line, key in EFFECTS:
            r = self.sh(line)
            try:
                rows = json.loads(r.out or "[]") if r.code == 0 else None
            except ValueError:
                rows = None
            if rows is None:
                found.append(f"`{line}` failed")
                continue
            # a set: podman lists an image once per name, each row with all its names
            names = {n for row in rows for n in _as_list(row.get(key))}
            found.append(" ".join(sorted(normalise(n, self) for n in names)))
        return found

    def load(self) -> None:
        r = self.sh("load -q -i $IMG")
        if r.code != 0:
            raise RuntimeError(f"{self.tool} load failed ({r.code}): {r.err.strip()}")

    def reset(self, case: Case) -> None:
        """Back to busybox only: the containers, volumes, networks and images
        the case made are removed; busybox is loaded again if it went."""
        force = "rm -af -t 0" if self.tool == "podman" else "rm -fa"
        self.sh(force)
        self.sh("$ T volume ls -q | while read v; do T volume rm -f \"$v\"; done")
        if "network" in " ".join(map(str, case.steps)):
            self.sh(_RM_NETWORKS)
        shutil.rmtree(self.work)
        os.mkdir(self.work)
        if self.user:
            os.chown(self.work, self.user.pw_uid, self.user.pw_gid)
        images = self.sh("$ T images --format json")
        try:
            names = {n for i in json.loads(images.out or "[]") for n in i.get("Names") or []}
        except ValueError:
            names = set()
        for name in names:
            if name != "localhost/busybox:latest":
                self.sh(f"rmi -f {shlex.quote(name)}")
        if "localhost/busybox:latest" not in names:
            self.sh("$ T images -q | while read i; do T rmi -f \"$i\"; done")
            self.load()

    def close(self) -> None:
        self.sh("rm -af -t 0" if self.tool == "podman" else "rm -fa")
        self.sh(_RM_NETWORKS)
        with open("/proc/self/mountinfo") as f:
            points = [ln.split()[4] for ln in f if f" {self.dir}/" in ln]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)


_RM_NETWORKS = "$ T network ls -q | grep '^sbs-' | while read n; do T network rm -f \"$n\"; done"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_image(out_dir: str) -> str:
    """busybox from the tests' root filesystem as an oci-archive named
    localhost/busybox:latest, readable by both tools: its path."""
    layout = os.path.join(out_dir, "layout")
    subprocess.run([sys.executable, os.path.join(REPO, "rootfs-tools", "build-image"), layout,
                    "--layer", ROOTFS, "--tag", "localhost/busybox:latest",
                    "--compression", "none"], check=True, capture_output=True)
    archive = os.path.join(out_dir, "busybox.tar")
    subprocess.run(["tar", "-C", layout, "-cf", archive, "."], check=True)
    os.chmod(out_dir, 0o755)
    return archive


@dataclass
class Outcome:
    case: Case
    diff: str            # '' when the same
    seconds: float
    theirs: tuple        # podman's ([Result per step], [effects])
    ours: tuple          # minirun's

    @property
    def same(self) -> bool:
        return not self.diff


class Pair:
    """podman and minirun side by side, as root or as the test user."""

    def __init__(self, rootless: bool = False):
        if os.geteuid() != 0:
            raise RuntimeError("the side-by-side runs as root (--rootless switches to the "
                               f"test user {TEST_USER})")
        self.rootless = rootless
        self.user = pwd.getpwnam(TEST_USER) if rootless else None
        self.base = tempfile.mkdtemp(prefix="sbs-", dir="/tmp")
        os.chmod(self.base, 0o755)
        image = build_image(os.path.join(self.base, "image"))
        registries = os.path.join(self.base, "registries.conf")
        with open(registries, "w") as f:
            f.write(REGISTRIES_CONF)
        os.chmod(registries, 0o644)
        self.podman = Side("podman", self.base, self.user, image, registries)
        self.minirun = Side("minirun", self.base, self.user, image, registries)
        self.pool = concurrent.futures.ThreadPoolExecutor(2)
        try:
            for f in [self.pool.submit(s.load) for s in (self.podman, self.minirun)]:
                f.result()
        except RuntimeError:
            self.close()
            raise

    def run(self, case: Case) -> Outcome:
        """Run a case on both sides at once; the first difference, if any."""
        start = time.monotonic()
        theirs, ours = self.pool.submit(_play, self.podman, case), _play(self.minirun, case)
        theirs = theirs.result()
        better = case.rootless_better if self.rootless else {}
        diff = _compare(case, theirs, ours, self.podman, self.minirun,
                        {**case.better, **better})
        return Outcome(case, diff, time.monotonic() - start, theirs, ours)

    def close(self) -> None:
        self.pool.shutdown()
        for side in (self.podman, self.minirun):
            side.close()
        # what outlives the containers: a plain user's podman keeps a pause
        # process (catatonit -P) holding its user namespace
        for pid in processes(self.base):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)


def _play(side: Side, case: Case) -> tuple[list[Result], list[str]]:
    results = [side.sh(case.step(i).line) for i in range(len(case.steps))]
    effects = side.effects()
    try:
        side.reset(case)
    except RuntimeError as e:      # the next case says what it finds
        effects.append(f"could not put the store back: {str(e)[:200]}")
    return results, effects


def _compare(case: Case, theirs, ours, podman: Side, minirun: Side, better: dict) -> str:
    (a_results, a_effects), (b_results, b_effects) = theirs, ours
    for i, (a, b) in enumerate(zip(a_results, b_results)):
        step = case.step(i)
        a, b = shown(a, step, podman), shown(b, step, minirun)
        if i in better:
            a = Result(**{**a.__dict__, **better[i]})
        diff = difference(a, b)
        if diff:
            said = b_results[i].err.strip().splitlines()[-1:] if a.code != b.code else []
            return f"step {i + 1} `{_cut(step.line)}`: {diff}" + \
                (f"; minirun said: {_short(said[0], 200)}" if said else "")
    for what, a, b in zip(("ps -a", "images", "volume ls", "reset"), a_effects, b_effects):
        if a != b:
            return f"after: {what} {_short(a)} vs {_short(b)}"
    if len(b_effects) > len(a_effects):
        return f"after: {b_effects[-1]}"
    return ""


def _show(o: Outcome) -> None:
    if o.case.podman_bug:
        print(f"  podman's bug: {o.case.podman_bug}")
    for i, (a, b) in enumerate(zip(o.theirs[0], o.ours[0])):
        print(f"  step {i + 1}: {o.case.step(i).line}")
        for tool, r in (("podman", a), ("minirun", b)):
            print(f"    {tool}: exit {r.code}\n" + "".join(
                f"      {name}| {ln}\n" for name, text in (("out", r.out), ("err", r.err))
                for ln in text.splitlines()[:12]), end="")
    for tool, effects in (("podman", o.theirs[1]), ("minirun", o.ours[1])):
        print(f"    after, {tool}: {effects}")


def _cut(line: str, width: int = 60) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


# --- the command line ----------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.e2e.side_by_side",
                                description="podman and minirun, side by side")
    p.add_argument("-k", dest="pattern", help="only the cases whose name contains this")
    p.add_argument("--rootless", action="store_true", help=f"both as the user {TEST_USER}")
    p.add_argument("-v", "--verbose", action="store_true", help="each case's seconds too")
    p.add_argument("--show", action="store_true", help="every step's output on both sides")
    a = p.parse_args(argv)
    cases = [c for c in CASES if not a.pattern or a.pattern in c.name]
    if a.rootless:
        cases = [c for c in cases if not c.root_only]
    try:
        pair = Pair(rootless=a.rootless)
    except (RuntimeError, KeyError, subprocess.CalledProcessError) as e:
        print(f"side_by_side: {e}", file=sys.stderr)
        return 2
    same, mode = 0, "rootless" if a.rootless else "root"
    try:
        for case in cases:
            o = pair.run(case)
            same += o.same
            known = " (known)" if known_difference(case.name, mode) else ""
            took = f" [{o.seconds:.1f}s]" if a.verbose else ""
            print(f"SAME {case.name}{took}" if o.same else
                  f"DIFF {case.name}{known}{took}: {o.diff}", flush=True)
            if a.show:
                _show(o)
    finally:
        pair.close()
    print(f"same: {same} of {len(cases)}")
    return 0


# --- the cases -------------------------------------------------------------------

# A container that stops at once on SIGTERM (a shell as pid 1 ignores it
# otherwise, and every stop would wait 10 s), and one case's usual setup.
LONG = "sh -c 'trap \"exit 0\" TERM; sleep 1000 & wait'"
WEB = f"run -d --name sbs-web busybox {LONG}"
DONE = "run --name sbs-done busybox sh -c 'echo out; echo err >&2; exit 3'"
DATA = "$ mkdir -p $D/data && echo from-host > $D/data/f"
S = Step
# podman as root; a plain user's podman 4.3 has no stats on cgroup v1, minirun does
STATS_HEADERS = ("ID  NAME  CPU %  MEM USAGE / LIMIT  MEM %  NET IO  BLOCK IO  PIDS  CPU TIME  "
                 "AVG CPU %")
# the names a docker-archive holds, from its manifest.json
SAVED_TAGS = ("$ tar -xOf $D/bb.tar manifest.json | python3 -c 'import json, sys; "
              "print(*[t for m in json.load(sys.stdin) for t in m[\"RepoTags\"]])'")

RUN = [
    Case("run-echo", ("run --rm busybox echo hello",)),
    Case("run-exit-code", ("run --rm busybox sh -c 'exit 3'",)),
    Case("run-detach", (WEB, "ps --format '{{.Names}}'")),
    Case("run-env", ("run --rm -e FOO=bar -e EMPTY= busybox sh -c 'echo \"$FOO|$EMPTY|\"'",)),
    Case("run-env-file", ("$ printf 'A=1\\nB=two words\\n# no\\n' > $D/env",
                          "run --rm --env-file $D/env busybox sh -c 'echo \"$A/$B\"'")),
    Case("run-workdir", ("run --rm -w /tmp busybox pwd",)),
    Case("run-user-name", ("run --rm -u daemon busybox id",)),
    Case("run-user-ids", ("run --rm -u 1234:5678 busybox id",)),
    Case("run-volume-bind", (DATA, "run --rm -v $D/data:/data busybox cat /data/f")),
    Case("run-volume-ro", (DATA, "run --rm -v $D/data:/data:ro busybox touch /data/x")),
    Case("run-volume-named", ("run --rm -v sbs-vol:/v busybox sh -c 'echo kept > /v/f'",
                              "run --rm -v sbs-vol:/v busybox cat /v/f")),
    Case("run-rm-anonymous", ("run --rm -v /anon busybox true", "volume ls -q")),
    Case("run-volume-anonymous", ("run --name sbs-anon -v /anon busybox true",
                                  "volume ls -q", "rm -v sbs-anon", "volume ls -q")),
    Case("run-mount-bind", (DATA, "run --rm --mount type=bind,source=$D/data,target=/data "
                                  "busybox cat /data/f")),
    Case("run-mount-tmpfs-size", ("run --rm --mount type=tmpfs,target=/t,tmpfs-size=1m busybox "
                                  "sh -c \"df -k /t | tail -1 | awk '{print \\$2}'\"",)),
    Case("run-tmpfs", ("run --rm --tmpfs /t busybox sh -c "
                       "\"grep ' /t ' /proc/mounts | cut -d' ' -f3\"",)),
    Case("run-publish", (f"run -d --name sbs-web -p {{port}}:80 busybox {LONG}",
                         "port sbs-web")),
    Case("run-ping", (S("run --rm busybox ping -c1 -W2 127.0.0.1", out="ignore"),)),
    Case("run-network-none", ("run --rm --network none busybox ls /sys/class/net",)),
    Case("run-hostname", ("run --rm --hostname sbs-host busybox hostname",)),
    Case("run-entrypoint", ("run --rm --entrypoint echo busybox hi there",)),
    Case("run-read-only", ("run --rm --read-only busybox touch /x",)),
    Case("run-read-only-tmpfs", ("run --rm --read-only busybox sh -c "
                                 "'touch /tmp/x /var/tmp/x /run/x && echo writable'",)),
    Case("run-restart-always", (f"run -d --name sbs-web --restart always busybox {LONG}",
                                "inspect --format '{{.HostConfig.RestartPolicy.Name}}' sbs-web")),
    Case("run-restart-on-failure", ("create --name sbs-r --restart on-failure:2 busybox false",
                                    "inspect --format '{{.HostConfig.RestartPolicy.Name}} "
                                    "{{.HostConfig.RestartPolicy.MaximumRetryCount}}' sbs-r")),
    Case("run-health-cmd", (f"run -d --name sbs-web --health-cmd true busybox {LONG}",
                            "healthcheck run sbs-web",
                            "inspect --format '{{.State.Health.Status}}' sbs-web")),
    # both limits: podman, given one --ulimit, asks for its built-in default of
    # the other, above this host's hard limit (root lacks CAP_SYS_RESOURCE)
    Case("run-ulimit", ("run --rm --ulimit nofile=512:512 --ulimit nproc=1024:1024 busybox "
                        "sh -c 'ulimit -n'",)),
    Case("run-add-host", ("run --rm --add-host sbs-db:10.1.2.3 busybox grep sbs-db /etc/hosts",)),
    Case("run-sysctl", ("run --rm --sysctl net.ipv4.ip_forward=1 busybox "
                        "cat /proc/sys/net/ipv4/ip_forward",)),
    Case("run-shm-size", ("run --rm --shm-size 32m busybox sh -c "
                          "\"df -k /dev/shm | tail -1 | awk '{print \\$2}'\"",)),
    Case("run-stop-signal", (f"run -d --name sbs-web --stop-signal USR1 busybox {LONG}",
                             "inspect --format '{{.Config.StopSignal}}' sbs-web")),
    Case("run-cidfile", (f"run -d --name sbs-web --cidfile $D/cid busybox {LONG}",
                         "$ grep -c -x '[0-9a-f]\\{64\\}' $D/cid")),
    Case("run-replace", (WEB, f"run -d --replace --name sbs-web busybox {LONG}",
                         "ps -a --format '{{.Names}}'")),
    Case("run-expose", (f"run -d --name sbs-web --expose 8080 busybox {LONG}",
                        "inspect --format '{{json .NetworkSettings.Ports}}' sbs-web")),
    Case("run-group-add", ("run --rm --group-add 1234 busybox id -G",)),
    Case("run-privileged-sys", ("run --rm --privileged busybox sh -c "
                                "\"grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1\"",)),
    Case("run-privileged-devices", ("$ T run --rm --privileged busybox ls /dev > $D/devs; "
                                    "grep -c -x -e null -e kvm -e fuse -e loop0 $D/devs",)),
    Case("run-caps-default", ("run --rm busybox grep CapEff /proc/self/status",)),
    Case("run-cap-add", ("run --rm --cap-drop all --cap-add NET_ADMIN busybox "
                         "grep CapEff /proc/self/status",)),
    Case("run-label", (f"run -d --name sbs-web --label tier=web busybox {LONG}",
                       "ps --filter label=tier=web --format '{{.Names}}'",
                       "inspect --format '{{.Config.Labels.tier}}' sbs-web")),
    Case("run-stdin-i", ("$ echo piped | T run --rm -i busybox cat",)),
    Case("run-stdin-without-i", ("$ echo piped | T run --rm busybox cat",)),
    Case("run-memory", (f"run -d --name sbs-web -m 64m busybox {LONG}",
                        "inspect --format '{{.HostConfig.Memory}}' sbs-web")),
    Case("run-gpus", ("run --rm --gpus all busybox true",),
         podman_bug="podman 4.3 ignores --gpus without a word (exit 0); on a machine with no "
                    "GPU minirun says so and refuses (125)",
         better={0: {"code": 125, "err": "Error:"}}),
    Case("run-oom-killed", ("run --name sbs-oom -m 16m busybox tail /dev/zero",
                            "inspect --format '{{.State.OOMKilled}}' sbs-oom"),
         podman_bug="podman 4.3 reports OOMKilled false after the kernel's OOM kill; "
                    "minirun records true",
         better={1: {"out": "true"}},
         root_only="a plain user's memory limit is not enforced on this cgroup v1 host, "
                   "so tail would eat the machine's memory"),
    Case("run-pull-never", ("run --rm --pull never localhost/sbs-nosuch true",)),
    Case("create-status", ("create --name sbs-c busybox true",
                           "ps -a --format '{{.Names}} {{.Status}}'")),
    Case("ps-order", ("create --name sbs-a busybox true", "$ sleep 0.05",
                      "create --name sbs-b busybox true", "$ sleep 0.05",
                      "create --name sbs-c busybox true", "ps -a --format '{{.Names}}'",
                      "ps -a -n 2 --format '{{.Names}}'", "ps -l --format '{{.Names}}'")),
]

EXIT_CODES = [
    Case("exit-command-not-found", ("run --rm busybox sbs-nosuch",)),
    Case("exit-not-executable", ("run --rm busybox /etc/passwd",)),
    Case("exit-unknown-user", ("run --rm -u sbs-nosuch busybox true",)),
    Case("exit-workdir-missing", ("run --rm -w /sbs/nosuch busybox pwd",),
         podman_bug="podman 4.3 fails (126) where runc and Docker make the directory; "
                    "minirun makes it, by decision (docs/ARCHITECTURE.md)",
         better={0: {"code": 0, "out": "/sbs/nosuch", "err": ""}}),
    Case("exit-unknown-flag", ("run --sbs-nosuch busybox true",)),
    Case("exit-unknown-command", ("sbs-nosuch",)),
    Case("exit-name-taken", (WEB, "run --name sbs-web busybox true")),
    Case("exit-inspect-missing", ("inspect sbs-nosuch",)),
    Case("exit-stop-missing", ("stop sbs-nosuch",)),
    Case("exit-exec-missing", ("exec sbs-nosuch true",)),
    Case("exit-rm-missing", ("rm sbs-nosuch",)),
    Case("exit-rm-f-missing", ("rm -f sbs-nosuch",)),
    Case("exit-rm-i-missing", ("rm -i sbs-nosuch",)),
    Case("exit-rmi-f-missing", ("rmi -f sbs-nosuch:1",)),
    Case("exit-volume-rm-f-missing", ("volume rm -f sbs-nosuch",)),
    Case("exit-network-rm-f-missing", ("network rm -f sbs-nosuch",)),
    Case("exit-rmi-missing", ("rmi sbs-nosuch",)),
    Case("exit-rmi-in-use", ("run --name sbs-user busybox true", "rmi busybox")),
    Case("exit-rm-running", (WEB, "rm sbs-web")),
    Case("exit-volume-rm-missing", ("volume rm sbs-nosuch",)),
    Case("exit-network-rm-missing", ("network rm sbs-nosuch",)),
    Case("exit-exec-stopped", ("run --name sbs-stopped busybox true",
                               "exec sbs-stopped true")),
    Case("exit-exec-code", (WEB, "exec sbs-web sh -c 'exit 4'")),
]

EXEC = [
    Case("exec-echo", (WEB, "exec sbs-web echo hi")),
    Case("exec-env", (WEB, "exec -e X=1 sbs-web sh -c 'echo $X'")),
    Case("exec-stdin", (WEB, "$ echo in | T exec -i sbs-web cat")),
    Case("exec-detach", (WEB, "exec -d sbs-web touch /tmp/x", "$ sleep 0.5",
                         "exec sbs-web ls /tmp/x")),
]

FORMATS = [
    Case("ps-headers", (WEB, S("ps", out="head"))),
    Case("ps-status-exited", (DONE, "ps -a --format '{{.Names}} {{.Status}}'")),
    Case("ps-status-running", (WEB, "ps --format '{{.Names}} {{.Status}}'")),
    Case("ps-command", (WEB, "ps --format '{{.Command}}'")),
    Case("ps-quiet", (WEB, "ps -q")),
    Case("ps-filter-name", (WEB, DONE, "ps -a --filter name=sbs-web --format '{{.Names}}'")),
    Case("ps-filter-status", (WEB, DONE, "ps -a --filter status=exited --format '{{.Names}}'")),
    Case("ps-table", (WEB, "ps --format 'table {{.Names}}\\t{{.Status}}'")),
    Case("ps-json", (WEB, S("ps --format json", out="keys:Id,Names,Image,Command,State,Status,"
                                                  "Ports,Labels,Created,ExitCode,Pid"))),
    Case("ps-unknown-field", (WEB, "ps --format '{{.Nosuch}}'")),
    Case("inspect-state-status", (WEB, "inspect --format '{{.State.Status}}' sbs-web")),
    Case("inspect-exit-code", (DONE, "inspect -f '{{.State.Status}} {{.State.ExitCode}}' "
                                     "sbs-done")),
    Case("inspect-config-env", ("run --name sbs-e -e A=1 busybox true",
                                # in any order: podman's changes from run to run
                                S("inspect -f '{{range .Config.Env}}{{println .}}{{end}}' sbs-e",
                                  out="sorted"))),
    Case("inspect-config-cmd", (WEB, "inspect -f '{{.Config.Cmd}} {{.Config.Entrypoint}}' "
                                     "sbs-web")),
    Case("inspect-ip-address", (WEB, "inspect -f '{{.NetworkSettings.IPAddress}}' sbs-web")),
    Case("inspect-name-image", (WEB, "inspect -f '{{.Name}} {{.ImageName}}' sbs-web")),
    Case("inspect-json", (WEB, S("inspect sbs-web", out="keys:Id,Created,Path,Args,State,Image,"
                                 "ImageName,Name,RestartCount,Mounts,Config,HostConfig,"
                                 "NetworkSettings"))),
    Case("inspect-state-json", (WEB, S("inspect -f '{{json .State}}' sbs-web",
                                       out="keys:Status,Running,Paused,OOMKilled,Pid,ExitCode,"
                                           "StartedAt,FinishedAt"))),
    Case("inspect-mounts", (DATA, "create --name sbs-c -v $D/data:/data busybox true",
                            "inspect -f '{{range .Mounts}}{{.Source}} {{.Destination}}{{end}}' "
                            "sbs-c")),
    Case("inspect-ports", (f"run -d --name sbs-web -p {{port}}:80 busybox {LONG}",
                           "inspect -f '{{json .NetworkSettings.Ports}}' sbs-web")),
    Case("inspect-join", ("create --name sbs-c busybox echo a b",
                          "inspect -f '{{join .Config.Cmd \",\"}}' sbs-c")),
    Case("image-inspect-tags", ("image inspect -f '{{.RepoTags}}' busybox",)),
    Case("image-inspect-json", (S("image inspect busybox", out="keys:Id,Digest,RepoTags,"
                                  "RepoDigests,Created,Size,Config,RootFS,History,"
                                  "Architecture,Os"),)),
    Case("images-headers", (S("images", out="head"),)),
    Case("images-format", ("images --format '{{.Repository}}:{{.Tag}}'",)),
    Case("images-json", (S("images --format json", out="keys:Id,Names,Size,Created,"
                                                       "RepoDigests,Digest"),)),
    Case("images-filter", ("tag busybox sbs-img", "images --filter reference=sbs-img "
                                                  "--format '{{.Repository}}'")),
]

LIFECYCLE = [
    Case("logs", (DONE, "logs sbs-done")),
    Case("logs-tail", ("run --name sbs-log busybox seq 1 5", "logs --tail 2 sbs-log")),
    Case("logs-timestamps", ("run --name sbs-log busybox echo stamped",
                             "logs -t sbs-log")),
    Case("stop", (WEB, "stop sbs-web", "inspect -f '{{.State.Status}} {{.State.ExitCode}}' "
                                       "sbs-web")),
    Case("kill", (WEB, "kill sbs-web", "wait sbs-web")),
    Case("rm", (DONE, "rm sbs-done")),
    Case("rm-force-running", (WEB, "rm -f sbs-web")),
    Case("restart", (WEB, "restart sbs-web", "inspect -f '{{.State.Status}}' sbs-web")),
    Case("start-attach-code", ("create --name sbs-c busybox sh -c 'exit 3'", "start -a sbs-c")),
    Case("pause", (WEB, "pause sbs-web", "inspect -f '{{.State.Status}}' sbs-web")),
    Case("pause-ps", (WEB, "pause sbs-web", "ps -a --format '{{.Names}} {{.Status}}'")),
    Case("unpause", (WEB, "pause sbs-web", "unpause sbs-web",
                     "inspect -f '{{.State.Status}}' sbs-web")),
    Case("rename", (WEB, "rename sbs-web sbs-new", "ps --format '{{.Names}}'")),
    Case("wait-code", ("run -d --name sbs-w busybox sh -c 'sleep 0.3; exit 5'", "wait sbs-w")),
]

COMMANDS = [
    Case("diff", ("run --name sbs-d busybox sh -c 'touch /new; rm /bin/ls'",
                  S("diff sbs-d", out="sorted"))),
    Case("export", ("run --name sbs-e busybox touch /sbs-file",
                    "$ T export sbs-e > $D/e.tar",
                    "$ tar -tf $D/e.tar | grep -x -e sbs-file -e bin/busybox | sort")),
    Case("commit", ("run --name sbs-c busybox sh -c 'echo made > /made'",
                    S("commit -q sbs-c sbs-img"), "run --rm sbs-img cat /made")),
    Case("commit-change", ("run --name sbs-c busybox true",
                           S("commit -q --change 'CMD [\"echo\", \"changed\"]' sbs-c sbs-img"),
                           "run --rm sbs-img")),
    Case("top", (WEB, S("top sbs-web", out="head"))),
    Case("top-descriptors", (WEB, S("top sbs-web user pid comm", out="head"))),
    Case("port", (f"run -d --name sbs-web -p {{port}}:80 busybox {LONG}", "port sbs-web 80")),
    Case("stats", (WEB, "stats --no-stream --format '{{.Name}}' sbs-web"),
         rootless_better={1: {"code": 0, "out": "sbs-web", "err": ""}}),
    Case("stats-headers", (WEB, S("stats --no-stream", out="head")),
         rootless_better={1: {"code": 0, "out": STATS_HEADERS, "err": ""}}),
    Case("cp-out", ("run --name sbs-c busybox sh -c 'echo inside > /f'", "cp sbs-c:/f $D/f",
                    "$ cat $D/f")),
    Case("cp-in", ("create --name sbs-c busybox cat /h", "$ echo host > $D/h",
                   "cp $D/h sbs-c:/h", "start -a sbs-c")),
    Case("cp-tar-stdout", ("run --name sbs-c busybox sh -c 'echo inside > /f'",
                           "$ T cp sbs-c:/f - > $D/f.tar", "$ tar -xOf $D/f.tar")),
    Case("container-exists", (WEB, "container exists sbs-web")),
    Case("image-exists", ("image exists busybox",)),
    Case("volume-exists", ("volume create sbs-vol", "volume exists sbs-vol")),
    Case("system-df", (S("system df", out="head"),)),
    Case("system-prune", (DONE, "volume create sbs-vol", S("system prune -f", out="ignore"),
                          "ps -a -q")),
    Case("events", ("run --name sbs-ev1 busybox true",
                    "events --stream=false --filter container=sbs-ev1 --format '{{.Status}}'")),
    Case("history", (S("history busybox", out="head"),)),
    Case("save", (S("save -o $D/bb.tar busybox", err="ignore"),
                  SAVED_TAGS)),
    Case("save-names-asked", ("tag busybox sbs-img:v1",
                              S("save -o $D/bb.tar sbs-img:v1", err="ignore"),
                              SAVED_TAGS)),
    Case("load", (S("save -o $D/bb.tar busybox", err="ignore"), "rmi busybox",
                  S("load -i $D/bb.tar", err="ignore"))),
    Case("tag", ("tag busybox sbs-img:v1 sbs-img:v2",
                 "images --format '{{.Repository}}:{{.Tag}}'")),
    Case("untag", ("tag busybox sbs-img:v1", "untag localhost/sbs-img:v1",
                   "images --format '{{.Repository}}:{{.Tag}}'")),
    Case("rmi-tag", ("tag busybox sbs-img", "rmi sbs-img")),
    Case("rmi-force-in-use", ("run --name sbs-user busybox true", "rmi -f busybox")),
]

VOLUMES = [
    Case("volume-create", ("volume create sbs-vol",)),
    Case("volume-ls-format", ("volume create sbs-vol",
                              "volume ls --format '{{.Name}} {{.Driver}}'")),
    Case("volume-ls-filter", ("volume create --label team=a sbs-vol", "volume create sbs-other",
                              "volume ls -q --filter label=team=a")),
    Case("volume-inspect", ("volume create sbs-vol",
                            "volume inspect -f '{{.Name}} {{.Driver}} {{.Mountpoint}}' sbs-vol")),
    Case("volume-inspect-json", ("volume create sbs-vol",
                                 S("volume inspect sbs-vol",
                                   out="keys:Name,Driver,Mountpoint,CreatedAt,Labels,Scope,"
                                       "Options"))),
    Case("volume-rm", ("volume create sbs-vol", "volume rm sbs-vol")),
    Case("volume-rm-in-use", ("create --name sbs-c -v sbs-vol:/v busybox true",
                              "volume rm sbs-vol")),
    Case("volume-rm-force-in-use", ("create --name sbs-c -v sbs-vol:/v busybox true",
                                    "volume rm -f sbs-vol")),
    Case("volume-prune", ("volume create sbs-vol", "create --name sbs-c -v sbs-kept:/v busybox "
                          "true", "volume prune -f")),
]

NETWORKS = [
    Case("network-create", ("network create sbs-net",)),
    Case("network-ls", ("network create sbs-net", "network ls --format '{{.Name}}'")),
    Case("network-inspect-subnet", ("network create sbs-net", "network inspect -f "
                                    "'{{range .Subnets}}{{.Subnet}}{{end}}' sbs-net")),
    Case("network-inspect-json", ("network create sbs-net",
                                  S("network inspect sbs-net",
                                    out="keys:name,id,driver,network_interface,created,subnets,"
                                        "ipv6_enabled,internal,dns_enabled"))),
    Case("network-rm", ("network create sbs-net", "network rm sbs-net")),
    Case("network-rm-in-use", ("network create sbs-net",
                               f"run -d --name sbs-web --network sbs-net busybox {LONG}",
                               "network rm sbs-net")),
    Case("network-run-on", ("network create sbs-net",
                            "run --rm --network sbs-net busybox sh -c "
                            "'ip -4 -o addr show eth0 | wc -l'")),
    Case("network-connect", ("network create sbs-net", WEB, "network connect sbs-net sbs-web",
                             "inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} "
                             "{{end}}' sbs-web")),
    Case("network-names-resolve", ("network create sbs-net",
                                   f"run -d --name sbs-web --network sbs-net busybox {LONG}",
                                   "run --rm --network sbs-net busybox sh -c "
                                   "'ping -c1 -W1 sbs-web 2>&1 | head -1 | cut -d\" \" -f2'"),
         podman_bug="podman 4.3 here has no dnsname plugin: a container's name does not "
                    "resolve on a user network (ping: bad address); minirun resolves it",
         better={2: {"out": "sbs-web"}}),
]

CASES: list[Case] = RUN + EXIT_CODES + EXEC + FORMATS + LIFECYCLE + COMMANDS + VOLUMES + NETWORKS

# The cases that differ from podman today, with the difference (the pytest
# file marks them xfail(strict)).  "NAME" differs as root and as a plain
# user; "root:NAME" or "rootless:NAME" in that mode only.
DIFFERS_TODAY: dict[str, str] = {
    # output of another shape
    "inspect-config-env": "Config.Env lacks podman's container=podman (minirun is not podman)",
    "exec-detach": "exec -d prints the exec session's id in podman; minirun has no exec "
                   "sessions, and prints nothing",
    "network-ls": "the default network is called minirun; podman's is podman",
    "root:network-connect": "a container's networks after network connect: podman 'podman "
                            "sbs-net', minirun 'minirun sbs-net' (the default network's name)",
}


def known_difference(name: str, mode: str) -> str:
    """Why case ``name`` differs in ``mode`` ("root" or "rootless") today, or ''."""
    return DIFFERS_TODAY.get(name) or DIFFERS_TODAY.get(f"{mode}:{name}", "")

if __name__ == "__main__":
    sys.exit(main())
