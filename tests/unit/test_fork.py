"""kernel/fork: the one fork-and-handshake helper, with real forks and pipes
(no privileges needed), and the store child built on it (engine/userns)."""
import errno
import os
import time

import pytest

from minirun.errors import CommandNotFound, LaunchError, MiniRunError
from minirun.kernel import fork
from minirun.runtime.sync import launch_error


def _handshake(chan, step, value):
    step("say userns")
    chan.send("userns")
    answer = chan.expect("go")
    return {"answer": answer, "value": value}


def test_handshake_words_then_a_result():
    child = fork.fork(_handshake, [1, "two"], returns=True)
    assert child.expect("userns") == ""
    child.send("go setgroups-denied")
    assert child.result() == {"answer": "setgroups-denied", "value": [1, "two"]}
    assert child.wait() == 0


def _fails(chan, step):
    step("open the thing")
    os.open("/nonexistent/minirun-fork-test", os.O_RDONLY)


def test_an_exception_arrives_as_one_error_naming_the_step():
    child = fork.fork(_fails)
    with pytest.raises(LaunchError) as e:
        child.expect("ready")
    assert (e.value.step, e.value.errno) == ("open the thing", errno.ENOENT)
    assert "/nonexistent/minirun-fork-test" in e.value.detail
    assert os.waitstatus_to_exitcode(child.wait()) == 1


def test_the_callers_error_function_makes_the_exception():
    seen = []

    def error(step, code, detail):
        seen.append((step, code))
        return MiniRunError(f"custom: {step}")
    child = fork.fork(_fails, error=error)
    with pytest.raises(MiniRunError, match="custom: open the thing"):
        child.expect("ready")
    child.wait()
    assert ("open the thing", errno.ENOENT) in seen


def _exec_missing(chan, step):
    step("exec")
    raise OSError(errno.ENOENT, "No such file or directory", "/bin/nope")


def test_exec_failures_keep_their_class_and_the_childs_exit_code():
    child = fork.fork(_exec_missing, error=launch_error)
    with pytest.raises(CommandNotFound):
        child.expect("ready")
    assert os.waitstatus_to_exitcode(child.wait()) == 127


def _exits(chan, step):
    return None


def test_end_of_file_before_a_word_names_the_word_and_who():
    child = fork.fork(_exits, who="the test child")
    with pytest.raises(LaunchError, match="the test child exited before `ready`"):
        child.expect("ready")
    assert child.wait() == 0


def test_the_child_leaves_without_running_the_parents_cleanup(tmp_path):
    marks = tmp_path / "marks"
    try:
        child = fork.fork(_exits)
    finally:
        with open(marks, "a") as f:
            f.write(f"{os.getpid()}\n")
    child.wait()
    assert marks.read_text().split() == [str(os.getpid())]


def _fds(chan, step):
    return sorted(int(n) for n in os.listdir("/proc/self/fd"))


def test_keep_fds_gives_a_holder_only_its_channel_and_those():
    kept_r, kept_w = os.pipe()
    other_r, other_w = os.pipe()
    for fd in (kept_r, kept_w, other_r, other_w):
        os.set_inheritable(fd, True)
    try:
        child = fork.fork(_fds, returns=True, keep_fds={kept_w})
        seen = set(child.result())
        child.wait()
    finally:
        for fd in (kept_r, kept_w, other_r, other_w):
            os.close(fd)
    assert kept_w in seen
    assert not seen & {kept_r, other_r, other_w}


def _session(chan, step):
    chan.send("ready")
    chan.recv("stop")       # until the parent closes its end


def test_detach_forks_twice_into_a_new_session():
    child = fork.fork(_session, detach=True)
    try:
        child.expect("ready")
        assert os.getsid(child.pid) != os.getsid(0)
        with pytest.raises(ChildProcessError):      # nobody's child of ours
            os.waitpid(child.pid, os.WNOHANG)
    finally:
        child.chan.close()          # the holder's signal to go
    for _ in range(200):
        if not os.path.exists(f"/proc/{child.pid}"):
            break
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{child.pid}")


def test_closing_a_channel_twice_leaves_other_descriptors_alone():
    parent, child_end = fork.Channel.pair()
    child_end.close()
    parent.close()
    r, w = os.pipe()            # may reuse the numbers just closed
    try:
        parent.close()
        os.write(w, b"x")
        assert os.read(r, 1) == b"x"
    finally:
        os.close(r), os.close(w)


class _Refused(MiniRunError):
    exit_code = 2

    def __init__(self, name):      # an __init__ of its own: rebuilt without calling it
        super().__init__(f"refused {name}")


def _raise_refused(name):
    raise _Refused(name)


def _returns(a, b=0):
    return a + b


def test_the_store_child_returns_and_rebuilds_minirun_errors():
    from minirun.engine import userns
    assert userns.in_child(_returns, 2, b=3) == 5
    with pytest.raises(_Refused, match="^refused x$") as e:
        userns.in_child(_raise_refused, "x")
    assert e.value.exit_code == 2


def _raise_value_error():
    raise ValueError("bad value")


def test_the_store_child_names_fn_for_other_exceptions():
    from minirun.engine import userns
    with pytest.raises(MiniRunError, match="_raise_value_error: ValueError: bad value"):
        userns.in_child(_raise_value_error)
