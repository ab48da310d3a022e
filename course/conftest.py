"""The course's checks: fixtures shared by every level.

Each level's checks run against one program: the student's
``container.py`` (``make check LEVEL=N``) or the level's reference
``solution.py`` (the default, as ``make test`` runs them).  They are
black-box where they can be: they run the program and look at what the
process inside saw and what it left behind, as minirun's own tests do.

A check's docstring ends with a "Look at:" line; ``course/check.py``
prints it under a check that failed.
"""
import os
import pwd
import subprocess
import sys

import pytest

COURSE = os.path.dirname(os.path.abspath(__file__))
STUDENT = os.environ.get("COURSE_TARGET") == "student"
TEST_USER = os.environ.get("COURSE_USER", "minirun-test")


def level_dir(test_file: str) -> str:
    return os.path.dirname(os.path.abspath(test_file))


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
                pytest.skip("switching to the plain user needs root")
            argv = ["runuser", "-u", user.pw_name, "--", "env", f"HOME={user.pw_dir}",
                    f"PYTHONPATH={COURSE}", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, env=dict(os.environ, PYTHONPATH=COURSE, **(env or {})))


@pytest.fixture
def run(program) -> Runner:
    return Runner(program)


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.skip("this check runs the program as root (sudo make check ...)")


# --- the short report `course/check.py` asks for -------------------------------------

_results: list[tuple[str, str, str]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        if report.when in ("call", "setup") and (report.when == "call" or report.skipped
                                                  or report.failed):
            _results.append((report.nodeid, report.outcome, report.longreprtext or ""))


def pytest_terminal_summary(terminalreporter, config):
    if not os.environ.get("COURSE_REPORT"):
        return
    write = terminalreporter.write_line
    write("")
    write("== your work, check by check ==")
    for nodeid, outcome, text in _results:
        mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[outcome]
        write(f"{mark} {nodeid.split('::')[-1]}")
        if outcome == "failed":
            hint = _hint(config, nodeid)
            if hint:
                write(f"       look at: {hint}")
            last = [line for line in text.splitlines() if line.startswith("E ")][:3]
            for line in last:
                line = line[1:].strip()
                write(f"       {line if len(line) < 160 else line[:157] + '...'}")
        if outcome == "skipped":
            write(f"       {text.strip().splitlines()[-1] if text.strip() else ''}")


def _hint(config, nodeid: str) -> str:
    for item in getattr(config, "_course_items", []):
        if item.nodeid == nodeid:
            doc = getattr(item.function, "__doc__", "") or ""
            for line in doc.splitlines():
                if line.strip().lower().startswith("look at:"):
                    return line.strip()[len("look at:"):].strip()
    return ""


def pytest_collection_modifyitems(config, items):
    config._course_items = list(items)
