"""The pytest plugin, as its users run it: a test file of theirs run by
pytest (as root, or as the test user), the minirun fixtures and marker, and
each job's figures in the JUnit XML report."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

USER_TESTS = '''
import pytest

@pytest.mark.minirun(image=IMAGE, network="none", memory="64m")
def test_job(minirun_job):
    r = minirun_job(["sh", "-c", "echo hi; exit 3"])
    assert r.exit_code == 3 and r.stdout == "hi\\n"

def test_service(minirun_container):
    c = minirun_container(IMAGE, ["sleep", "60"], network="none")
    assert c.exec(["true"]).exit_code == 0

def test_no_marker(minirun_job):
    minirun_job(["true"])
'''


def run_pytest(api, tmp: str, *args: str) -> subprocess.CompletedProcess:
    with open(os.path.join(tmp, "test_user.py"), "w") as f:
        f.write(f"IMAGE = {api.image!r}\n" + USER_TESTS)
    api.mr.rt.chown(tmp)
    argv = api.mr.rt.prefix() + [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "--minirun-root", api.mr.store, *args, "test_user.py"]
    return subprocess.run(argv, capture_output=True, text=True, cwd=tmp, timeout=300,
                          env=api.mr.env())


def test_the_plugin_runs_jobs_and_reports_their_cost(api):
    tmp = os.path.join(api.mr.rt.scratch, "plugin")
    os.makedirs(tmp)
    r = run_pytest(api, tmp, "--junitxml", "report.xml", "-rA")
    assert "2 passed, 1 error" in r.stdout or "1 error, 2 passed" in r.stdout, r.stdout
    assert "minirun_job needs @pytest.mark.minirun(image=" in r.stdout, r.stdout
    assert "job 0: exit 3" in r.stdout, r.stdout                 # the -rA section
    tree = ET.parse(os.path.join(tmp, "report.xml"))
    props = {p.get("name"): p.get("value") for p in tree.iter("property")}
    assert props["minirun.exit_code"] == "3" and "minirun.duration" in props, props
    left = api.mr("ps", "-aq", check=True).stdout.split()
    assert left == [], left                                      # pools and services gone


XDIST_TESTS = '''
import os
import pytest

@pytest.mark.parametrize("n", range(6))
@pytest.mark.minirun(image=IMAGE, network="none")
def test_job(minirun_job, n):
    r = minirun_job(["hostname"])
    with open(os.path.join(OUT, f"{os.environ['PYTEST_XDIST_WORKER']}-{n}"), "w") as f:
        f.write(r.stdout)
'''


def test_under_xdist_no_two_workers_share_a_container(api):
    """Two workers, six jobs: each job in a container of its own (a pool per
    worker process, and a container per job)."""
    import pytest
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (make setup installs it)")
    tmp = os.path.join(api.mr.rt.scratch, "xdist")
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    with open(os.path.join(tmp, "test_user.py"), "w") as f:
        f.write(f"IMAGE = {api.image!r}\nOUT = {out!r}\n" + XDIST_TESTS)
    api.mr.rt.chown(tmp)
    argv = api.mr.rt.prefix() + [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "-n", "2", "--minirun-root", api.mr.store, "test_user.py"]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, timeout=300,
                       env=api.mr.env())
    assert "6 passed" in r.stdout, r.stdout + r.stderr
    names = {f: open(os.path.join(out, f)).read().strip() for f in os.listdir(out)}
    assert len(names) == 6 and len(set(names.values())) == 6, names
    assert {f.split("-")[0] for f in names} == {"gw0", "gw1"}, names
    assert api.mr("ps", "-aq", check=True).stdout.split() == []
