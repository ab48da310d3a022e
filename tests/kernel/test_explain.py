"""`minirun-oci --explain run`, as root and rootless: under each key step a
why with its man page, each line under the header of the process that made
it, and the trace lines as bench/breakdown.py reads them."""
import re

from bench.breakdown import MARKS
from tests.conftest import leftovers

TRACE = re.compile(r"\[\s*([\d.]+)ms ([^\]]*) (\d+)\] (.*)")     # bench/breakdown.py's
WHY = re.compile(r"      why: (\S.*) {2}\(see ([\w.-]+\(\d\w*\)(?:, [\w.-]+\(\d\w*\))*)\)")
HEADER = re.compile(r"== (\S+(?: \S+)?) \((.*)pid (\d+)\) ==")


def parse(text: str) -> list[dict]:
    """Every trace line: {actor, pid, message, header (the actor of the header
    above it), why (the why line under it, or None), pages}.  Any other line
    (not a header, a trace or a why) fails: nothing else is narrated."""
    steps, header = [], None
    for line in text.splitlines():
        if m := HEADER.fullmatch(line):
            header = m.group(1), m.group(3)
        elif m := TRACE.fullmatch(line):
            steps.append({"actor": m.group(2).rsplit(" ", 0)[0], "pid": m.group(3),
                          "message": m.group(4), "header": header, "why": None, "pages": ""})
        elif m := WHY.fullmatch(line):
            assert steps and steps[-1]["why"] is None, f"a why with no step above: {line}"
            steps[-1]["why"], steps[-1]["pages"] = m.group(1), m.group(2)
        else:
            raise AssertionError(f"not a narration line: {line!r}")
    return steps


def find(steps: list[dict], needle: str, actor: str) -> dict:
    """The first step whose message holds ``needle``: it is ``actor``'s,
    under that actor's header, with a why naming a man page."""
    for s in steps:
        if needle in s["message"]:
            assert s["actor"] == actor, (needle, s)
            assert s["header"] == (actor, s["pid"]), (needle, s)
            assert s["why"] and s["pages"], f"no why under {needle}: {s}"
            return s
    raise AssertionError(f"no step {needle!r} in {[s['message'] for s in steps]}")


def check_launch(steps: list[dict], rootless: bool, engine: bool = False) -> None:
    """The runtime's key steps, by parent, child and init, each with its why
    (``engine``: minirun's, whose rootless containers join a held user namespace)."""
    assert "unshare(2)" in find(steps, "unshare(CLONE_NEWNS", "child")["pages"]
    assert find(steps, "-- fork init", "child")["pages"] == "pid_namespaces(7)"
    assert find(steps, 'pivot_root(".", ".")', "init")["pages"] == "pivot_root(2)"
    assert find(steps, 'mount("proc"', "init")["pages"] == "proc(5)"
    assert "mount_namespaces(7)" in find(steps, "MS_REC|MS_SLAVE", "init")["pages"]
    find(steps, "prctl(PR_CAPBSET_DROP)", "init")
    assert find(steps, "capset(", "init")["pages"] == "capset(2)"
    assert find(steps, "seccomp(SECCOMP_SET_MODE_FILTER", "init")["pages"] == "seccomp(2)"
    assert find(steps, "execve(", "init")["pages"] == "execve(2)"
    assert find(steps, "mkfifo ", "parent")["why"]
    if rootless and engine:
        assert find(steps, "/ns/user, CLONE_NEWUSER)", "child")["pages"] == "setns(2)"
        assert "newuidmap(1)" in find(steps, "newuidmap", "monitor")["pages"]
    elif rootless:
        assert find(steps, "unshare(CLONE_NEWUSER)", "child")["pages"] == "unshare(2)"
        assert find(steps, "-- unshare user namespace", "child")["pages"] == "user_namespaces(7)"
        assert "newuidmap(1)" in find(steps, "newuidmap", "parent")["pages"]
    if rootless:
        if not any("no writable cgroup" in s["message"] for s in steps):
            find(steps, "/cgroup.procs", "parent")
    else:
        assert find(steps, "/cgroup.procs", "parent")["pages"] == "cgroups(7)"


SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}


def test_explain_says_why_under_each_step(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    b.set("linux.seccomp", SECCOMP)
    b.write()
    rt.chown(b.path)
    r = rt.oci("--explain", "run", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    steps = parse(r.stderr)
    check_launch(steps, rt.rootless)
    # the expert's trace is as it was: bench/breakdown.py finds every mark
    messages = [s["message"] for s in steps]
    for _, needle in MARKS:
        assert needle is None or any(needle in m for m in messages), needle
    # a header only where the narrating process changes
    text = r.stderr.splitlines()
    for above, line in zip(text, text[1:]):
        assert not (HEADER.fullmatch(above) and HEADER.fullmatch(line)), (above, line)
    assert not leftovers(rt, cid, b)


def test_without_explain_nothing_is_said(rt, busybox_rootfs, cid):
    b = rt.bundle(busybox_rootfs, ["true"])
    r = rt.oci("run", "--bundle", b.path, cid)
    assert r.returncode == 0 and r.stderr == "", r.stderr
