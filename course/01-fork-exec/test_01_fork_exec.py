"""Level 1's checks: a child runs the program, the parent waits for it,
and /proc shows the child."""
import re
import signal


def test_the_program_runs_and_its_output_is_ours(run):
    """Look at: run(): os.fork() then os.execvp() in the child."""
    r = run("run", "/bin/echo", "hello", "from", "a", "child")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from a child\n", f"its output: {r.stdout!r}"


def test_the_exit_code_is_the_childs(run):
    """Look at: run(): os.waitpid() and os.waitstatus_to_exitcode()."""
    r = run("run", "/bin/sh", "-c", "exit 3")
    assert r.returncode == 3, f"exit 3 came back as {r.returncode}\n{r.stderr}"


def test_a_signal_gives_128_plus_its_number(run):
    """Look at: run(): os.WIFSIGNALED / os.WTERMSIG, as a shell reports a kill."""
    r = run("run", "/bin/sh", "-c", "kill -KILL $$")
    assert r.returncode == 128 + signal.SIGKILL, \
        f"a SIGKILL (9) came back as {r.returncode}, not 137\n{r.stderr}"


def test_the_child_is_another_process_whose_parent_we_are(run):
    """Look at: run(): print the parent's and child's pids; $PPID is the parent's."""
    r = run("run", "/bin/sh", "-c", 'echo "$$ $PPID"')
    m = re.search(r"parent (\d+) started child (\d+)", r.stderr)
    assert m, f"no 'container: parent PID started child PID' line in its stderr:\n{r.stderr}"
    me, ppid = r.stdout.split()
    assert (ppid, me) == (m.group(1), m.group(2)), (r.stdout, r.stderr)


def test_proc_shows_the_child_before_it_execs(run):
    """Look at: show(): /proc/PID/status and /proc/PID/cmdline, read while the
    child waits on the pipe (after exec, its Name would be sleep's)."""
    r = run("run", "--show", "/bin/sleep", "0.1")
    m = re.search(r"child (\d+): Name=(\S+) PPid=(\d+) cmdline=(.*)", r.stderr)
    assert m, f"no 'child PID: Name=... PPid=... cmdline=...' line in its stderr:\n{r.stderr}"
    parent = re.search(r"parent (\d+) started", r.stderr)
    assert parent, f"no 'container: parent PID started child PID' line in:\n{r.stderr}"
    assert m.group(3) == parent.group(1), \
        f"PPid={m.group(3)}, but the parent is {parent.group(1)}"
    assert "python" in m.group(2), \
        f"Name={m.group(2)}: read after exec? (before it, the child is still python)"
    assert "container.py" in m.group(4) or "solution.py" in m.group(4), \
        f"cmdline={m.group(4)!r}: before exec, the child's is this program's " \
        f"(python .../container.py run ...)"


def test_a_missing_program_is_127_and_one_line(run):
    """Look at: run(): the child's except OSError, then os._exit(127)."""
    r = run("run", "/no/such/program")
    assert r.returncode == 127, f"a program that is not there gave {r.returncode}\n{r.stderr}"
    assert "Traceback" not in r.stderr, f"a traceback, not one line:\n{r.stderr}"
    assert "/no/such/program" in r.stderr, f"the line does not name the program: {r.stderr}"


def test_the_program_starts_with_no_signal_ignored(run):
    """Look at: run(): signal.signal(SIGPIPE and SIGXFSZ, SIG_DFL) in the
    child before exec (Python ignores them; exec keeps what is ignored)."""
    r = run("run", "/bin/grep", "SigIgn", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    ignored = int(r.stdout.split()[1], 16)
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (signum - 1)), \
            f"{signal.Signals(signum).name} is still ignored in the program: {r.stdout.strip()}"
