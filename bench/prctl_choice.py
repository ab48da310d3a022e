"""prctl_choice: python-prctl, or minirun's own cffi calls, for capabilities
and prctl in kernel/ (issue 15, item 4)?  The figures that decide it.

  1. can it do the launch's calls: each one the launch makes (the bounding
     set, keepcaps, capset on three sets, ambient capabilities,
     no_new_privs, the child subreaper), tried in a forked child;
  2. import cost: ``import prctl`` in a fresh interpreter, alone and on top
     of minirun._native (which stays: mount, unshare, pivot_root and
     seccomp are not prctl's), against minirun.kernel.capabilities;
  3. call cost: the launch's sequence, timed inside forked children (the
     bounding set only shrinks, so each run needs a fresh process);
  4. fork safety: what importing prctl does to the process (threads,
     libraries, syscalls, process state) before the launch forks.

Run as root (the bounding set needs CAP_SETPCAP), with python-prctl
installed in the venv only to measure (it needs libcap-dev to build):
    .venv/bin/pip install python-prctl && .venv/bin/python bench/prctl_choice.py
Last line: ratio prctl/own = R (the launch's calls).
"""
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "30"))
# podman's default set (engine/containers/bundle.py PODMAN_CAPS)
KEEP = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
        "CAP_SETUID", "CAP_SYS_CHROOT"]


def own_launch() -> None:
    """What runtime/process.switch_user and the init do, through kernel/."""
    from minirun.kernel import capabilities as c, process
    keep = c.to_mask(KEEP)
    c.bounding_drop_except(keep)
    c.set_keepcaps(True)
    c.set_keepcaps(False)                    # (around the uid change, not made here)
    c.capset(keep, keep, 0)
    c.ambient_set(0)
    process.set_no_new_privs()
    process.set_child_subreaper()


def prctl_launch(ambient_clear_all=None) -> None:
    """The same through python-prctl, as its documentation says to;
    ``ambient_clear_all`` stands in for the call python-prctl lacks."""
    import prctl
    from minirun.kernel import capabilities as c
    keep = {c.BY_NAME[n] for n in KEEP}
    for cap in range(c.last_cap() + 1):
        if cap not in keep and prctl.capbset_read(cap):
            prctl.capbset_drop(cap)
    prctl.set_keepcaps(True)
    prctl.set_keepcaps(False)
    drop = sorted(set(range(c.last_cap() + 1)) - keep)
    prctl.set_caps((sorted(keep), [prctl.CAP_EFFECTIVE, prctl.CAP_PERMITTED], True),
                   (drop, [prctl.CAP_EFFECTIVE, prctl.CAP_PERMITTED], False),
                   (drop + sorted(keep), prctl.CAP_INHERITABLE, False))
    (ambient_clear_all or _prctl_ambient_clear_all)()
    prctl.set_no_new_privs(1)
    prctl.set_child_subreaper(1)


def _prctl_ambient_clear_all() -> None:
    import _prctl
    _prctl.prctl(47, 4)                      # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL


def _prctl_ambient_raise() -> None:
    import _prctl
    _prctl.prctl(47, 2, 10)                  # PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE


def _prctl_capset_all_permitted() -> None:
    """capset naming, by number, every capability this process has permitted
    (all but CAP_SYS_RESOURCE on these hosts: HOST.md), the newest included."""
    import prctl
    from minirun.kernel import capabilities as c
    permitted = c.capget()[1]
    every = [cap for cap in range(c.last_cap() + 1) if permitted >> cap & 1]
    prctl.set_caps((every, [prctl.CAP_EFFECTIVE, prctl.CAP_PERMITTED], True))


def _prctl_drop_newest() -> None:
    import prctl
    from minirun.kernel import capabilities as c
    prctl.capbset_drop(c.last_cap())


def in_child(fn) -> tuple[float | None, str]:
    """Run fn in a forked child: (its seconds, '') or (None, what it raised)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                     # the child: report, never return
        os.close(r)
        try:
            t = time.perf_counter()
            fn()
            msg = f"ok {time.perf_counter() - t}"
        except BaseException as e:  # noqa: BLE001  (reported to the parent, as the launch does)
            msg = f"error {type(e).__name__}: {e}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        msg = f.read()
    os.waitpid(pid, 0)
    return (float(msg[3:]), "") if msg.startswith("ok ") else (None, msg[6:])


def what_it_can_do() -> list[str]:
    """Each call the launch needs, through python-prctl, in a child."""
    import prctl
    calls = {
        "PR_CAPBSET_DROP (bounding set)": lambda: prctl.capbset_drop(21),
        "PR_CAPBSET_DROP of the newest capability": _prctl_drop_newest,
        "PR_SET_KEEPCAPS": lambda: prctl.set_keepcaps(True),
        "capset, all three sets": lambda: prctl.set_caps(
            ([0], [prctl.CAP_EFFECTIVE, prctl.CAP_PERMITTED, prctl.CAP_INHERITABLE], True)),
        "capset naming every permitted capability": _prctl_capset_all_permitted,
        "PR_CAP_AMBIENT_RAISE": _prctl_ambient_raise,
        "PR_CAP_AMBIENT_CLEAR_ALL": _prctl_ambient_clear_all,
        "PR_SET_NO_NEW_PRIVS": lambda: prctl.set_no_new_privs(1),
        "PR_SET_CHILD_SUBREAPER": lambda: prctl.set_child_subreaper(1),
        "PR_SET_PDEATHSIG": lambda: prctl.set_pdeathsig(9),
        "PR_SET_DUMPABLE": lambda: prctl.set_dumpable(False),
        "PR_SET_NAME": lambda: prctl.set_name("minirun:[2:INIT]"),
    }
    lines, missing = [], []
    for name, call in calls.items():
        seconds, error = in_child(call)
        lines.append(f"  {name:<50} {'yes' if seconds is not None else 'NO: ' + error}")
        if seconds is None:
            missing.append(name)
    for line in lines:
        print(line)
    return missing


def import_seconds(statement: str, before: str = "pass") -> float:
    """Median seconds of ``statement`` in fresh interpreters (after ``before``)."""
    code = (f"import time; {before}; t = time.perf_counter(); {statement}; "
            "print(time.perf_counter() - t)")
    times = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=REPO)
        times.append(float(out.stdout))
    return statistics.median(times)


def import_costs() -> None:
    rows = [("import prctl (alone)", "import prctl", "pass"),
            ("import prctl, minirun._native already loaded", "import prctl",
             "import minirun.kernel._native"),
            ("import minirun._native", "import minirun._native", "pass"),
            ("import minirun.kernel.capabilities, process",
             "import minirun.kernel.capabilities, minirun.kernel.process", "pass")]
    for label, statement, before in rows:
        print(f"  {label:<50} {import_seconds(statement, before) * 1e3:6.2f} ms")


def process_state() -> dict[str, str]:
    """What a fork inherits and importing a module could change."""
    import threading
    with open("/proc/self/status") as f:
        state = {k: v.strip() for k, v in (line.split(":", 1) for line in f)
                 if k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs",
                          "Seccomp", "Threads", "SigIgn", "SigCgt")}
    with open("/proc/self/maps") as f:
        state["libraries"] = " ".join(sorted({line.split()[-1].rsplit("/", 1)[-1]
                                              for line in f if ".so" in line}))
    state["python threads"] = str(threading.active_count())
    return state


def fork_safety() -> None:
    """The process before and after ``import prctl``: only differences."""
    before = process_state()
    import prctl  # noqa: F401
    after = process_state()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    for key, (old, new) in changed.items():
        if key == "libraries":
            new = " ".join(sorted(set(new.split()) - set(old.split())))
            print(f"  {'new libraries':<50} {new}")
        else:
            print(f"  {key:<50} {old} -> {new}")
    if set(changed) <= {"libraries"}:
        print("  no thread, capability, signal or prctl state changed by the import")
    seconds, error = in_child(lambda: prctl_launch(_own_ambient_clear_all))
    print(f"  {'the launch calls in a child forked after it':<50} "
          f"{'work' if seconds is not None else 'FAIL: ' + error}")


def _own_ambient_clear_all() -> None:
    from minirun.kernel import capabilities as c
    c.ambient_set(0)


def call_costs() -> float:
    """Median microseconds of the launch's calls, own and python-prctl
    (its ambient call ours), alternating; returns the ratio prctl/own."""
    import prctl  # noqa: F401  (loaded before the fork, as the launch would)
    from minirun.kernel import capabilities, process  # noqa: F401
    times = {"own": [], "prctl": []}
    for _ in range(RUNS):
        for name, fn in (("own", own_launch),
                         ("prctl", lambda: prctl_launch(_own_ambient_clear_all))):
            seconds, error = in_child(fn)
            if seconds is None:
                sys.exit(f"bench prctl_choice: {name}: {error}")
            times[name].append(seconds)
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, m in medians.items():
        print(f"  {name:<50} {m * 1e6:6.1f} us (median of {RUNS}, min "
              f"{min(times[name]) * 1e6:.1f})")
    return medians["prctl"] / medians["own"]


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench prctl_choice: runs as root (dropping from the bounding set needs "
                 "CAP_SETPCAP)")
    sys.path.insert(0, REPO)
    try:
        import prctl  # noqa: F401
    except ImportError:
        sys.exit("bench prctl_choice: python-prctl is not installed: `apt-get install "
                 "libcap-dev` and `.venv/bin/pip install python-prctl` to measure it")
    print("1. what python-prctl can do of the launch's calls:")
    missing = what_it_can_do()
    print(f"2. import cost (median of {RUNS} fresh interpreters, {sys.executable}):")
    import_costs()
    print("3. the launch's calls (bounding set, keepcaps x2, capset, ambient clear, "
          "no_new_privs, subreaper):")
    ratio = call_costs()
    print("4. fork safety: what `import prctl` changes in a fresh process:")
    sys.stdout.flush()
    subprocess.run([sys.executable, os.path.abspath(__file__), "--fork-safety"], check=True)
    if missing:
        print(f"python-prctl lacks: {', '.join(missing)}")
    print(f"ratio prctl/own = {ratio:.2f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--fork-safety"]:        # (a fresh interpreter: prctl not yet loaded)
        sys.path.insert(0, REPO)
        fork_safety()
    else:
        main()
