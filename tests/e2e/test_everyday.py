"""A podman user's everyday verbs and their exit codes, as root and
rootless: `exists` for containers, images, volumes and networks (0 or 1);
`rename`; the rm verbs going on past a name that fails, with podman's
codes (1: no such thing, 2: in use or running)."""
import json

NONE = ["--network", "none"]


def test_exists(mr, img):
    mr("create", "--name", "here", img, "true", check=True)
    mr("volume", "create", "vol", check=True)
    assert mr("container", "exists", "here").returncode == 0
    assert mr("container", "exists", "gone").returncode == 1
    assert mr("image", "exists", img).returncode == 0
    assert mr("image", "exists", "localhost/nothing:1").returncode == 1
    assert mr("volume", "exists", "vol").returncode == 0
    assert mr("volume", "exists", "novol").returncode == 1
    assert mr("network", "exists", "nonet").returncode == 1
    r = mr("container", "exists", "here", "extra")
    assert r.returncode == 125, r          # a usage error, not an answer


def test_rename(mr, img):
    mr("run", "-d", "--name", "before", *NONE, img, "sleep", "60", check=True)
    mr("create", "--name", "other", img, "true", check=True)
    mr("rename", "before", "after", check=True)
    names = {c["Names"] if isinstance(c["Names"], str) else c["Names"][0]
             for c in json.loads(mr("ps", "-a", "--format", "json", check=True).stdout)}
    assert names == {"after", "other"}, names
    assert mr("exec", "after", "true").returncode == 0
    r = mr("rename", "after", "other")
    assert r.returncode == 125 and "in use" in r.stderr, r
    r = mr("container", "rename", "after", "bad name!")
    assert r.returncode == 125, r
    r = mr("rename", "nosuch", "x")
    assert r.returncode == 125 and "no container" in r.stderr, r


def test_the_rm_verbs_go_on_and_exit_as_podman(mr, img):
    mr("create", "--name", "a", img, "true", check=True)
    mr("create", "--name", "b", img, "true", check=True)
    r = mr("rm", "a", "nosuch", "b")
    assert r.returncode == 1 and r.stdout.split() == ["a", "b"], r
    assert "nosuch" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    mr("run", "-d", "--name", "busy", *NONE, img, "sleep", "60", check=True)
    r = mr("rm", "busy")
    assert r.returncode == 2 and "running" in r.stderr, r
    r = mr("rm", "-f", "nosuch")       # podman 4.3 says 0 and removes nothing: its bug
    assert r.returncode == 1, r
    mr("volume", "create", "v1", check=True)
    r = mr("volume", "rm", "v1", "novol")
    assert r.returncode == 1 and r.stdout.split() == ["v1"], r
    assert mr("network", "rm", "nonet").returncode == 1
    r = mr("rmi", "localhost/nothing:1")
    assert r.returncode == 1 and "not in the store" in r.stderr, r
