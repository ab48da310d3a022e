"""Level 2's checks: the program inside has a hostname and a pid 1 of its
own, and the host's are untouched."""
import os
import re
import socket


def inside(run, *args: str):
    r = run("run", *args)
    assert r.returncode == 0, r.stderr
    return r


def test_the_hostname_inside_is_the_one_asked_for(run, root_only):
    """Look at: init(): linux.sethostname(opts.hostname) before exec."""
    r = inside(run, "--hostname", "course-box", "/bin/hostname")
    assert r.stdout.strip() == "course-box", f"hostname printed {r.stdout.strip()!r}"


def test_the_hosts_hostname_is_unchanged(run, root_only):
    """Without a new UTS namespace, sethostname() renames the host.
    Look at: child(): CLONE_NEWUTS in linux.unshare(), before init runs."""
    before = socket.gethostname()
    inside(run, "--hostname", "not-the-host", "/bin/true")
    assert socket.gethostname() == before, "the host was renamed: was CLONE_NEWUTS unshared?"


def test_without_hostname_the_name_is_a_copy_of_the_hosts(run, root_only):
    """A new UTS namespace starts as a copy of its parent's names.
    Look at: init(): call linux.sethostname() only when --hostname was given."""
    assert inside(run, "/bin/hostname").stdout.strip() == socket.gethostname()


def test_the_program_is_pid_1_and_its_parent_is_outside(run, root_only):
    """The first child after unshare(CLONE_NEWPID) is pid 1; its parent is
    outside the namespace, so $PPID reads 0.
    Look at: child(): linux.unshare(... CLONE_NEWPID), then os.fork()."""
    assert inside(run, "/bin/sh", "-c", 'echo "$$ $PPID"').stdout.split() == ["1", "0"]


def test_the_namespaces_inside_are_new(run, root_only):
    """`readlink /proc/self/ns/uts` names a process's UTS namespace.
    Look at: child(): linux.unshare(CLONE_NEWUTS | CLONE_NEWPID)."""
    r = inside(run, "/bin/sh", "-c", "readlink /proc/self/ns/uts /proc/self/ns/pid")
    uts, pid = r.stdout.split()
    assert uts != os.readlink("/proc/self/ns/uts"), "same UTS namespace as the host"
    assert pid != os.readlink("/proc/self/ns/pid"), "same PID namespace as the host"


def test_the_runtime_says_which_host_pid_is_pid_1(run, root_only):
    """fork() returns the new process's pid as the parent's namespace numbers it.
    Look at: child(): print `container: pid 1 of the new namespace is host pid PID`."""
    r = inside(run, "/bin/sh", "-c", "echo $$")
    child = re.search(r"started child (\d+)", r.stderr)
    init = re.search(r"pid 1 of the new namespace is host pid (\d+)", r.stderr)
    assert child and init, r.stderr
    assert int(init.group(1)) != 1 and init.group(1) != child.group(1), \
        f"host pid {init.group(1)}: not the pid fork() returned in the child"


def test_pid_1_ignores_signals_it_has_no_handler_for(run, root_only):
    """The kernel drops a signal sent to a namespace's pid 1 from inside when
    pid 1 has no handler for it (pid_namespaces(7)).
    Look at: child() and init(): PROGRAM must be the fork after the unshare."""
    r = inside(run, "/bin/sh", "-c", "kill -TERM $$; echo still here")
    assert r.stdout.strip() == "still here", \
        f"pid 1 died of a SIGTERM it sent itself: is PROGRAM pid 1?\n{r.stderr}"


def test_the_exit_code_still_comes_back(run, root_only):
    """init's exit code reaches the runtime through the child.
    Look at: child(): return wait(pid); init(): return execute(opts.argv)."""
    r = run("run", "/bin/sh", "-c", "exit 3")
    assert r.returncode == 3, f"exit 3 came back as {r.returncode}\n{r.stderr}"
    r = run("run", "/no/such/program")
    assert r.returncode == 127, f"a program that is not there gave {r.returncode}\n{r.stderr}"
