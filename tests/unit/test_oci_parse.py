"""minirun-oci's two parsers: the fast one for the verbs engines call per
container, and argparse for everything else, built from the same table."""
import subprocess
import sys

import pytest

from minirun.cli import oci

SAME = [
    "create --bundle /b --pid-file /p c1",
    "--root /r --log /l --log-format json create --bundle /b --pid-file /p "
    "--console-socket /s c1",
    "--root=/r create -b /b --preserve-fds 2 c1",
    "--systemd-cgroup start c1", "--debug state c1", "kill c1", "kill --all c1 KILL",
    "kill -a c1 9", "delete c1", "delete --force c1", "-v", "--explain run -d --keep -b /b c1",
    "--rootless true run --no-new-keyring c1",
]


@pytest.mark.parametrize("line", SAME)
def test_the_fast_parser_reads_what_argparse_reads(line):
    argv = line.split()
    fast = oci._fast_parse(argv)
    if argv == ["-v"]:
        assert fast is None                 # no verb: argparse's business
        return
    assert fast is not None, line
    slow = oci._parser(oci._verb_in(argv)).parse_args(argv)
    assert vars(fast) == vars(slow)


@pytest.mark.parametrize("line", [
    "create --help", "create c1 --bundle /b", "create --bundle", "create", "kill c1 TERM x",
    "--log-format yaml state c1", "delete -fq c1", "create --preserve-fds x c1",
    "exec c1 true", "--bogus state c1", "state --bundle /b c1", "create --bund /b c1"])
def test_anything_else_goes_to_argparse(line):
    assert oci._fast_parse(line.split()) is None


def test_the_fast_path_imports_no_argparse():
    code = ("import sys; from minirun.cli import oci; "
            "oci._fast_parse(['--root', '/r', 'create', '--bundle', '/b', 'c1']); "
            "print('argparse' in sys.modules, 'gettext' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_usage_errors_are_argparses_with_exit_125():
    r = subprocess.run([sys.executable, "-m", "minirun.cli.oci", "create"],
                       capture_output=True, text=True)
    assert r.returncode == 125 and "the following arguments are required: id" in r.stderr


def test_close_host_fds_keeps_exactly_what_it_is_told():
    """INIT closes the host's descriptors without /proc (runtime/process.py)."""
    code = ("import os; from minirun.kernel import linux; "
            "from minirun.runtime.process import close_host_fds; "
            "fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(6)]; "
            "close_host_fds(linux(), {0, 1, 2, fds[1], fds[4], -1}); "
            "left = {int(n) for n in os.listdir('/proc/self/fd')}; "
            "print(left - {fds[0]} == {0, 1, 2, fds[1], fds[4]})")  # fds[0]: listdir's own
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr
