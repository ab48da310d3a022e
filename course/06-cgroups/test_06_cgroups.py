"""Level 6's checks: the program runs in a cgroup of its own, whose limits
the kernel enforces (an OOM kill, half a CPU, a fork bomb stopped), and
which is gone afterwards; as root, and as a plain user in a delegated
subtree.

The limits need cgroup v2's controllers.  On a hybrid host (cgroup v1
holds them) those checks skip, saying so; the project runs them in a
cgroup v2 VM (tests/vm/, the ``course_06_*`` results).  The programs run
are the host's own (no --rootfs): this level is about the group, not the
files.
"""
import os
import pwd
import re
import subprocess
import sys

import pytest

COURSE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOCATE = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"


def cgroup2() -> tuple[str, str]:
    """(where cgroup2 is mounted, our own group in it): the runtime, our
    child, has the same."""
    with open("/proc/self/mountinfo") as f:
        mount = next((line.split(" - ")[0].split()[4] for line in f
                      if line.split(" - ")[1].split()[0] == "cgroup2"), None)
    if mount is None:
        pytest.skip("no cgroup2 filesystem is mounted here")
    with open("/proc/self/cgroup") as f:
        own = next(line[3:].strip() for line in f if line.startswith("0::"))
    return mount, own


def beside_us() -> str:
    mount, own = cgroup2()
    return os.path.normpath(os.path.join(mount, os.path.dirname(own).lstrip("/")))


def needs_controllers(*names: str) -> None:
    with open(os.path.join(beside_us(), "cgroup.controllers")) as f:
        have = f.read().split()
    missing = [n for n in names if n not in have]
    if missing:
        pytest.skip(f"this host's cgroup v2 tree has no {', '.join(missing)} controller (a "
                    "hybrid host: cgroup v1 holds it); tests/vm runs this check on cgroup v2")


def group_of(stderr: str) -> str:
    m = re.search(r"container: cgroup (\S+)", stderr)
    assert m, f"no 'container: cgroup DIR' line in: {stderr!r}"
    return m.group(1)


def cpu_used(stderr: str) -> float:
    m = re.search(r"used ([\d.]+) s of CPU", stderr)
    assert m, f"no 'container: used N s of CPU' line in: {stderr!r}"
    return float(m.group(1))


def while_running(program: str, *args: str, prefix: tuple = ()) -> tuple[str, dict, str]:
    """Start the program running ``sleep 2``, read its group's limit files
    while it runs; (the group, {file: contents}, all of stderr)."""
    p = subprocess.Popen([*prefix, sys.executable, program, "run", *args, "sleep", "2"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         env=dict(os.environ, PYTHONPATH=COURSE))
    seen, files = "", {}
    try:
        for line in p.stderr:
            seen += line
            if "container: cgroup " in line:
                group = group_of(line)
                for name in ("memory.max", "memory.swap.max", "cpu.max", "pids.max"):
                    if os.path.exists(os.path.join(group, name)):
                        with open(os.path.join(group, name)) as f:
                            files[name] = f.read().strip()
                break
        seen += p.stderr.read()
    finally:
        p.wait(timeout=60)
    return group_of(seen), files, seen


# --- the group itself (any cgroup v2 tree: this host's too) ----------------------------

def test_the_program_runs_in_a_group_of_its_own(run, root_only):
    """/proc/self/cgroup inside names the group the runtime made.
    Look at: join_cgroup(): write the child's pid to cgroup.procs before it forks init."""
    r = run("run", "/bin/sh", "-c", "cat /proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    mount, _ = cgroup2()
    inside = next(line[3:] for line in r.stdout.splitlines() if line.startswith("0::"))
    assert os.path.join(mount, inside.lstrip("/")) == group_of(r.stderr), (r.stdout, r.stderr)


def test_the_group_is_beside_ours_and_gone_after(run, root_only):
    """cgroup v2's "no internal processes" rule puts it in our group's parent.
    Look at: make_cgroup() (the parent of own_cgroup()), remove_cgroup()."""
    r = run("run", "/bin/true")
    assert r.returncode == 0, r.stderr
    group = group_of(r.stderr)
    assert os.path.dirname(group) == beside_us()
    assert not os.path.exists(group), "the group is still there"


def test_a_limit_without_its_controller_is_one_clear_error(run, root_only):
    """Look at: make_cgroup(): compare with the parent's cgroup.controllers first."""
    with open(os.path.join(beside_us(), "cgroup.controllers")) as f:
        if "memory" in f.read().split():
            pytest.skip("this host has cgroup v2's memory controller: nothing to refuse")
    r = run("run", "--memory", "32m", "/bin/true")
    assert r.returncode == 125 and "Traceback" not in r.stderr, r.stderr
    assert "memory" in r.stderr and "cgroup.controllers" in r.stderr, r.stderr


# --- the limits (cgroup v2 with its controllers) ---------------------------------------

def test_the_limits_are_in_the_groups_files(program, root_only):
    """Look at: cgroup_limits(): memory.max in bytes, cpu.max "QUOTA PERIOD", pids.max."""
    needs_controllers("memory", "cpu", "pids")
    _, files, stderr = while_running(program, "--memory", "32m", "--cpus", "0.5",
                                     "--pids-limit", "20")
    assert files.get("memory.max") == str(32 << 20), (files, stderr)
    assert files.get("cpu.max") == "50000 100000", (files, stderr)
    assert files.get("pids.max") == "20", (files, stderr)


def test_past_memory_max_the_oom_killer_ends_it(run, root_only):
    """100 MB in a 32 MiB group: the kernel kills it (SIGKILL: 137).
    Look at: report_cgroup(): oom_kill in memory.events, read before rmdir."""
    needs_controllers("memory")
    r = run("run", "--memory", "32m", "/bin/sh", "-c", ALLOCATE)
    assert r.returncode == 137, (r.returncode, r.stdout, r.stderr)
    assert "survived" not in r.stdout
    assert re.search(r"oom_kill [1-9]", r.stderr), r.stderr
    assert not os.path.exists(group_of(r.stderr))


def test_below_memory_max_it_lives(run, root_only):
    """Look at: parse_size(): 256m is 256 MiB, not 256 bytes."""
    needs_controllers("memory")
    r = run("run", "--memory", "256m", "/bin/sh", "-c", ALLOCATE)
    assert r.returncode == 0 and r.stdout == "survived\n", (r.stdout, r.stderr)


def test_half_a_cpu_is_half_a_cpu(run, root_only):
    """3 s of spinning with --cpus 0.5 uses about 1.5 s of CPU.
    Look at: cgroup_limits(): cpu.max "50000 100000"; report_cgroup(): cpu.stat."""
    needs_controllers("cpu")
    r = run("run", "--cpus", "0.5", "/bin/sh", "-c",
            "timeout 3 sh -c 'while :; do :; done'; true")
    assert r.returncode == 0, r.stderr
    used = cpu_used(r.stderr)
    assert 1.0 < used < 2.0, f"{used:.2f} s of CPU in 3 s at --cpus 0.5"


def test_pids_max_stops_a_fork_bomb(run, root_only):
    """Fifty background sleeps in a group of twenty processes: fork fails.
    Look at: cgroup_limits(): pids.max; report_cgroup(): max in pids.events."""
    needs_controllers("pids")
    r = run("run", "--pids-limit", "20", "/bin/sh", "-c",
            "for i in $(seq 50); do sleep 3 & done; echo all started")
    assert "all started" not in r.stdout, r.stdout
    assert "fork" in r.stderr, r.stderr
    assert re.search(r"pids.events max [1-9]", r.stderr), r.stderr
    assert not os.path.exists(group_of(r.stderr))


# --- a plain user -------------------------------------------------------------------

@pytest.fixture
def delegated(root_only):
    """A subtree given to the plain user as systemd gives user@UID.service:
    the controllers enabled down to it, the directory and its cgroup.procs
    and cgroup.subtree_control the user's; the user's programs start in a
    leaf below it (``login``).  Yields (the subtree, a command prefix that
    runs the rest as the user in the leaf)."""
    needs_controllers("memory", "pids")
    try:
        user = pwd.getpwnam(os.environ.get("COURSE_USER", "minirun-test"))
    except KeyError:
        pytest.skip("no plain user here (COURSE_USER names one)")
    top = os.path.join(beside_us(), f"course-delegated-{os.getpid()}")
    leaf = os.path.join(top, "login")
    with open(os.path.join(beside_us(), "cgroup.subtree_control"), "w") as f:
        f.write("+memory +pids")
    os.mkdir(top)
    os.mkdir(leaf)
    try:
        for d in (top, leaf):
            for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
                os.chown(os.path.join(d, name), user.pw_uid, user.pw_gid)
        prefix = ("sh", "-c", f'echo $$ > {leaf}/cgroup.procs && exec "$@"', "sh",
                  "runuser", "-u", user.pw_name, "--", "env", f"HOME={user.pw_dir}")
        yield top, prefix
    finally:
        for d in (leaf, top):
            os.rmdir(d)


def test_a_plain_user_limits_its_container_in_its_delegated_subtree(program, delegated):
    """The same code as root's: the parent of our own group is the subtree.
    Look at: make_cgroup(); the README's "Delegation"."""
    top, prefix = delegated
    r = subprocess.run([*prefix, sys.executable, program, "run", "--memory", "32m",
                        "/bin/sh", "-c", ALLOCATE], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=COURSE))
    assert r.returncode == 137, (r.returncode, r.stdout, r.stderr)
    assert os.path.dirname(group_of(r.stderr)) == top
    assert re.search(r"oom_kill [1-9]", r.stderr), r.stderr


def test_a_plain_user_without_delegation_runs_without_a_group(run, root_only):
    """Nothing was given to the user: no group, said in one line, and it runs.
    Look at: new_cgroup(): PermissionError without limits is a note."""
    r = run("run", "/bin/sh", "-c", "echo ran", as_user=True)
    if "container: cgroup " in r.stderr:
        pytest.skip("the plain user's cgroup parent is writable: it was delegated")
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr
    assert "no cgroup of our own" in r.stderr, r.stderr


def test_a_plain_user_without_delegation_is_refused_its_limits(run, root_only):
    """A limit we cannot set is an error, not a silent no-op.
    Look at: new_cgroup() and make_cgroup(): their OSError is one line and 125."""
    r = run("run", "--pids-limit", "20", "/bin/sh", "-c", "echo ran", as_user=True)
    if "container: cgroup " in r.stderr:
        pytest.skip("the plain user's cgroup parent is writable: it was delegated")
    assert r.returncode == 125 and r.stdout == "", (r.stdout, r.stderr)
    assert "make_cgroup" in r.stderr and "Traceback" not in r.stderr, r.stderr
