"""Level 1's checks: a child runs the program, the parent waits for it,
and /proc shows the child."""
import re
import signal


def test_the_program_runs_and_its_output_is_ours(run):
    """Look at: run(): os.fork() then os.execvp() in the child."""
    r = run("run", "/bin/echo", "hello", "from", "a", "child")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from a child\n"


def test_the_exit_code_is_the_childs(run):
    """Look at: run(): os.waitpid() and os.waitstatus_to_exitcode()."""
    assert run("run", "/bin/sh", "-c", "exit 3").returncode == 3


def test_a_signal_gives_128_plus_its_number(run):
    """Look at: run(): os.WIFSIGNALED / os.WTERMSIG, as a shell reports a kill."""
    r = run("run", "/bin/sh", "-c", "kill -KILL $$")
    assert r.returncode == 128 + signal.SIGKILL


def test_the_child_is_another_process_whose_parent_we_are(run):
    """Look at: run(): print the parent's and child's pids; $PPID is the parent's."""
    r = run("run", "/bin/sh", "-c", 'echo "$$ $PPID"')
    m = re.search(r"parent (\d+) started child (\d+)", r.stderr)
    assert m, f"no 'container: parent PID started child PID' line in: {r.stderr!r}"
    me, ppid = r.stdout.split()
    assert (ppid, me) == (m.group(1), m.group(2)), (r.stdout, r.stderr)


def test_proc_shows_the_child_before_it_execs(run):
    """Look at: show(): /proc/PID/status and /proc/PID/cmdline, read while the
    child waits on the pipe (after exec, its Name would be sleep's)."""
    r = run("run", "--show", "/bin/sleep", "0.1")
    m = re.search(r"child (\d+): Name=(\S+) PPid=(\d+) cmdline=(.*)", r.stderr)
    assert m, f"no 'child PID: Name=... PPid=... cmdline=...' line in: {r.stderr!r}"
    parent = re.search(r"parent (\d+)", r.stderr).group(1)
    assert m.group(3) == parent and "python" in m.group(2)
    assert "container.py" in m.group(4) or "solution.py" in m.group(4)


def test_a_missing_program_is_127_and_one_line(run):
    """Look at: run(): the child's except OSError, then os._exit(127)."""
    r = run("run", "/no/such/program")
    assert r.returncode == 127
    assert "Traceback" not in r.stderr and "/no/such/program" in r.stderr


def test_the_program_starts_with_no_signal_ignored(run):
    """Look at: run(): signal.signal(SIGPIPE and SIGXFSZ, SIG_DFL) in the
    child before exec (Python ignores them; exec keeps what is ignored)."""
    r = run("run", "/bin/grep", "SigIgn", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    ignored = int(r.stdout.split()[1], 16)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (signum - 1)), \
            f"{signal.Signals(signum).name} is still ignored in the program: {r.stdout.strip()}"
