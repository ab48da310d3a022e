"""``--explain``: narrate each step of a launch, as it happens, on stderr.

The kernel wrappers call :func:`say` with the syscall they are about to make
(``unshare(CLONE_NEWPID|CLONE_NEWNS)``); the launch steps call it with what
the step is for.  It is off unless ``MINIRUN_EXPLAIN`` is set in the
environment, which ``--explain`` does so that every process of a launch,
parent and child alike, narrates the same way.

What a reader sees::

    == init (pid 1 in the container: builds its root, becomes its program) ==
    [   35.4ms init 1] pivot_root(".", ".")
          why: make the rootfs the root of this mount namespace ...  (see pivot_root(2))

- The trace line (``[MS ACTOR PID] MESSAGE``) is the expert's, unchanged:
  bench/breakdown.py and the tests parse it.
- The ``why:`` line under it is read, only when narrating, from the *Why*
  list of the docstring of the module that made the call: ``say(MESSAGE,
  why=KEY)`` prints the item ``- KEY: TEXT (PAGE)``.  That list is the one
  place the plain words live (the kernel modules' docstrings hold most of
  them); a run of lines with the same why shows it once per step.
- A header line is written whenever the process that narrates changes
  (:func:`set_actor` names it; a forked child inherits the name until it
  sets its own).  All processes write through one descriptor, so lines
  appear in the order they are written; a lock shared across the forks
  keeps a header with the lines it heads.

When it is off, :func:`say` returns at its first test: nothing is imported,
nothing looked up.
"""
import os
import sys
import time

# The value is the monotonic time the narration started at, so that every
# process of a launch stamps its lines on one clock (milliseconds since).
_base = os.environ.get("MINIRUN_EXPLAIN")
_on = bool(_base)
_who = "minirun"
_role = ""


_out = os.environ.get("MINIRUN_EXPLAIN_TO")


def enable(to: str | None = None) -> None:
    """Narrate from now on, to stderr or (``--debug --log FILE``) to a file."""
    global _on, _base, _out, _state
    _on = True
    _base = os.environ["MINIRUN_EXPLAIN"] = repr(time.monotonic())
    if to:
        _out = os.environ["MINIRUN_EXPLAIN_TO"] = to
    _state = _State()           # before any fork, so that the children share it


def enabled() -> bool:
    return _on


def set_actor(name: str, role: str = "") -> tuple[str, str]:
    """Name the process that narrates next (``parent``, ``init``, ...) and
    say in a few words what it is, for the header of its lines; the name
    and role it had (a process that acts for a while as another)."""
    global _who, _role
    before = _who, _role
    _who, _role = name, role
    return before


def say(message: str, why: str | None = None, *, depth: int = 1) -> None:
    """One trace line; under it, the why of ``why`` (a key of the Why list
    in the docstring of the module ``depth`` frames up: the caller's)."""
    if _on:
        try:
            _narrate(message, why, depth + 1)
        except OSError:
            pass


def fds() -> set[int]:
    """The descriptor the narration goes through, for a launch that closes
    all the others (it is close-on-exec: the container's program never
    has it)."""
    return {_state.fd} if _on and _state is not None and _state.fd >= 0 else set()


# --- only when narrating ----------------------------------------------------------

class _State:
    """What the narrating processes of one launch share: the descriptor they
    write through, and (in memory shared across fork) the pid of the last
    writer and a lock, so that a header goes with the lines it heads."""

    def __init__(self):
        if _out:
            self.fd = os.open(_out, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                              0o666)       # as open(_, "a") made it: the umask decides
        else:           # our stderr now: a child's own becomes the container's later
            import fcntl
            self.fd = fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, 3)
        import mmap
        self.last = mmap.mmap(-1, 64)       # shared with every child forked from here
        try:            # a POSIX semaphore, unlinked at once: multiprocessing's Lock
            import _multiprocessing
            self.lock = _multiprocessing.SemLock(1, 1, 1, f"/minirun-explain-{os.getpid()}",
                                                 True)
        except (OSError, ImportError):      # no /dev/shm: a header may stray now and then
            self.lock = None
        self.pid, self.said, self.step_why = 0, set(), ""   # whys said, in which process


_state: _State | None = None
_tables: dict[str, dict[str, str]] = {}


def _narrate(message: str, why: str | None, depth: int) -> None:
    global _state
    if _state is None:
        _state = _State()
    try:
        ms = (time.monotonic() - float(_base)) * 1000
    except ValueError:
        ms = 0.0
    pid = os.getpid()
    text = f"[{ms:7.1f}ms {_who} {pid}] {message}\n"
    st = _state
    if st.pid != pid:                       # a forked child starts afresh
        st.pid, st.said, st.step_why = pid, set(), ""
    step = message.startswith("-- ")        # a launch step: the calls' whys once per step
    if step:
        st.said.clear()
    line = why_line(sys._getframe(depth).f_globals, why) if why is not None else None
    if line and (line != st.step_why if step else line not in st.said):
        st.said.add(line)
        if step:                            # `-- mount /proc`, `-- mount /dev`: said once
            st.step_why = line
        text += f"      why: {line}\n"
    me = f"{_who} {pid}".encode()[:64].ljust(64, b"\0")
    lock = _state.lock
    got = lock.acquire(timeout=0.2) if lock else False
    try:
        if _state.last[:] != me:
            text = f"== {_header(pid)} ==\n" + text
        os.write(_state.fd, text.encode())
        _state.last[:] = me                 # (a process whose descriptor was closed: not it)
    finally:
        if got:
            lock.release()


def _header(pid: int) -> str:
    return f"{_who} ({_role}; pid {pid})" if _role else f"{_who} (pid {pid})"


def why_line(module_globals: dict, key: str) -> str | None:
    """``TEXT  (see PAGE)`` for ``key`` in the Why list of the module whose
    globals are given; a key that is a step name with words after it
    (``mount /proc``) finds the item of its first words (``mount``)."""
    name = module_globals.get("__name__", "")
    table = _tables.get(name)
    if table is None:
        table = _tables[name] = why_table(module_globals.get("__doc__") or "")
    words = key.split(" ")
    for n in range(len(words), 0, -1):
        found = table.get(" ".join(words[:n]))
        if found:
            return found
    return None


def why_table(doc: str) -> dict[str, str]:
    """The docstring's Why list: the items after the line that starts with
    ``Why`` and names ````--explain````, up to the prose after them.  An item is
    ``- KEY: TEXT (PAGE)``, its TEXT continued on indented lines; the key
    is what callers pass as ``why=``.  Returned as {KEY: "TEXT  (see PAGE)"},
    the reST markup (````code````, ``*stress*``) taken out."""
    import re
    table: dict[str, str] = {}
    lines = doc.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if ln.startswith("Why") and "``--explain``" in ln), None)
    if start is None:
        return table
    items: list[list[str]] = []
    for ln in lines[start + 1:]:
        s = ln.strip()
        if s.startswith("- "):
            items.append([s[2:]])
        elif s and items and ln.startswith("  "):
            items[-1].append(s)
        elif s and items:
            break                           # the prose after the list
    for parts in items:
        text = " ".join(parts)
        key, sep, rest = text.partition(": ")
        m = re.fullmatch(r"(.*?)\s*\(([\w.-]+\(\d\w*\)(?:, [\w.-]+\(\d\w*\))*)\)", rest)
        if not sep or not m:
            continue
        words = re.sub(r"``(.*?)``|\*(.*?)\*", lambda g: g.group(1) or g.group(2), m.group(1))
        table[key] = f"{words}  (see {m.group(2)})"
    return table
