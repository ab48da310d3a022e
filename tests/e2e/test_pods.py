"""Pods, as root and as a plain user: an infra container holding the
network, IPC and UTS namespaces, and members that join them (each other on
localhost, one hostname, one SysV IPC namespace), the pod's ports reached
from the host, the pod verbs with podman's exit codes, and what is left
after `pod rm -f` (nothing of this test's).  Kubernetes YAML: `kube play`
of a two-container Pod, `kube generate` of it checked against the official
Kubernetes client's V1Pod model, the generated file played again, and
`kube down`.  Real servers and clients: busybox httpd, nc and wget, and a
static SysV IPC probe of ours (probes/sysvipc.c: Debian's busybox has no
ipcmk or ipcs)."""
import json
import os
import time

import pytest

from tests.conftest import processes
from tests.e2e.conftest import fetch
from tests.e2e.registry import free_port
from tests.e2e.test_like_podman import podman as podman_alone  # noqa: F401 (a fixture)

@pytest.fixture(scope="session")
def ipcprobe(probes):
    """A directory holding the SysV IPC probe, built static for busybox."""
    return probes("sysvipc")


@pytest.fixture
def podman(podman_alone):  # noqa: F811 (the fixture imported above)
    """podman 4.3 beside `mr` (test_like_podman's), whose pods go (with -f)
    before its containers do."""
    yield podman_alone
    podman_alone("pod", "rm", "-fa", "-t", "0")


@pytest.fixture
def pods(mr):
    """`mr`, whose pods go (with -f) before its containers do."""
    yield mr
    if os.path.isdir(mr.store):
        mr("pod", "rm", "-fa", timeout=120)


def _scratch(mr, name: str, text: str) -> str:
    """A file of this test's, NAME under its scratch directory (and the
    directories on the way), that the test user may read: its path."""
    path = os.path.join(mr.rt.scratch, name)
    d = os.path.dirname(path)
    while d != mr.rt.scratch and not os.path.isdir(d):
        os.makedirs(d)
        os.chmod(d, 0o755)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def _v1pod(text: str):
    """kube generate's YAML as the Kubernetes client's own V1Pod, which must
    keep every field under its name (the client writes the timestamp back
    as +00:00 where Kubernetes and podman write Z)."""
    import yaml
    kubernetes = pytest.importorskip("kubernetes", reason="the test dependency `kubernetes` "
                                     "(pip install -e .[test]) checks the generated YAML")
    doc = yaml.safe_load(text)
    api = kubernetes.client.ApiClient()
    model = api._ApiClient__deserialize(doc, "V1Pod")
    back = api.sanitize_for_serialization(model)
    stamp = doc["metadata"].pop("creationTimestamp")
    assert stamp.endswith("Z") and \
        back["metadata"].pop("creationTimestamp") == stamp[:-1] + "+00:00"
    assert back == doc                    # no field dropped or renamed
    return model


def _ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _left(mr, ids: list[str], timeout: float = 10) -> list[str]:
    """What this test made that is still there: its processes (made_for its
    scratch directory), mounts under its store, its containers' network
    namespaces and directories, waited for up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [f"process {p}" for p in processes(mr.rt.scratch)]
        with open("/proc/self/mountinfo") as f:
            found += [f"mount {line.split()[4]}" for line in f if mr.store in line]
        for cid in ids:
            for path in (f"/run/netns/minirun-{cid}", os.path.join(mr.store, "containers", cid)):
                if os.path.exists(path):
                    found.append(path)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_pods_containers_share_localhost_hostname_and_ipc(pods, img, ipcprobe):
    mr = pods
    port = free_port()
    pod_id = mr("pod", "create", "--name", "shop", "-p", f"{port}:80", "--label", "team=a",
                check=True).stdout.strip()
    info = json.loads(mr("pod", "inspect", "shop", check=True).stdout)
    assert info["Id"] == pod_id and info["Name"] == "shop" and info["State"] == "Created"
    assert info["Labels"] == {"team": "a"} and info["SharedNamespaces"] == ["ipc", "net", "uts"]
    infra = info["InfraContainerID"]
    assert info["NumContainers"] == 1 and info["Containers"] == [
        {"Id": infra, "Name": f"{pod_id[:12]}-infra", "State": "created"}]

    server = mr("run", "-d", "--pod", "shop", "--name", "server", "-v", f"{ipcprobe}:/probe:ro",
                img, "sh", "-c", "echo served > /tmp/index.html; /probe/sysvipc make 4242; "
                "(echo over-nc | nc -l -p 9000 &); httpd -f -p 80 -h /tmp",
                check=True).stdout.strip()
    # a second member: the first on localhost, the pod's hostname, the same IPC
    r = mr("run", "--rm", "--pod", "shop", "-v", f"{ipcprobe}:/probe:ro", img, "sh", "-c",
           "hostname; for i in $(seq 100); do wget -qO- http://localhost/index.html && break; "
           "sleep 0.1; done; for i in $(seq 100); do nc localhost 9000 && break; sleep 0.1; "
           "done; "
           "/probe/sysvipc find 4242 >/dev/null && echo ipc-shared; "
           "for n in ipc uts net; do readlink /proc/self/ns/$n; done", check=True)
    lines = r.stdout.splitlines()
    assert lines[:4] == ["shop", "served", "over-nc", "ipc-shared"], r.stdout + r.stderr
    infra_pid = int(mr("inspect", "--format", "{{.State.Pid}}", infra, check=True).stdout)
    assert lines[4:] == [_ns(infra_pid, n) for n in ("ipc", "uts", "net")]
    # --explain narrates each join with its why (a plain user's: the user namespace too)
    r = mr("--explain", "run", "--rm", "--pod", "shop", img, "true", check=True)
    joined = [line.split("] join the ")[1].split()[0] for line in r.stderr.splitlines()
              if "] join the " in line]
    assert sorted(joined) == ["ipc", "network"] + (["user"] if mr.rt.rootless else []) + ["uts"]
    assert "why: a pod's containers share namespaces" in r.stderr
    # a container outside the pod has none of it
    r = mr("run", "--rm", "-v", f"{ipcprobe}:/probe:ro", img, "sh", "-c",
           "/probe/sysvipc find 4242 || echo no-ipc; hostname", check=True)
    assert r.stdout.splitlines()[0] == "no-ipc" and r.stdout.splitlines()[1] != "shop"

    assert fetch(f"http://127.0.0.1:{port}/index.html") == "served\n"   # the pod's port
    # ... which each member shows as its own, as podman's do
    assert mr("port", "server", check=True).stdout == f"80/tcp -> 0.0.0.0:{port}\n"
    assert mr("ps", "--filter", "name=server", "--format", "{{.Ports}}").stdout == \
        f"0.0.0.0:{port}->80/tcp\n"
    assert mr("inspect", "--format", "{{.NetworkSettings.Ports}} {{.HostConfig.PortBindings}}",
              "server").stdout == f"map[80/tcp:[{{ {port}}}]] map[]\n"
    listing = json.loads(mr("pod", "ps", "--format", "json", check=True).stdout)
    assert [(p["Name"], p["Status"], p["InfraId"], len(p["Containers"])) for p in listing] == \
        [("shop", "Running", infra, 2)]
    assert mr("pod", "ps", "-q", check=True).stdout == pod_id + "\n"      # (whole, as podman's)
    table = mr("pod", "ps", check=True).stdout.splitlines()
    assert table[0].split() == ["POD", "ID", "NAME", "STATUS", "CREATED", "INFRA", "ID", "#",
                                "OF", "CONTAINERS"]
    names = mr("ps", "-a", "--filter", "pod=shop", "--format", "{{.Names}}", check=True).stdout
    assert sorted(names.split()) == sorted([f"{pod_id[:12]}-infra", "server"])
    rows = mr("ps", "--pod", check=True).stdout.splitlines()
    assert rows[0].split()[-3:] == ["POD", "ID", "PODNAME"]
    assert all(row.split()[-2:] == [pod_id[:12], "shop"] for row in rows[1:])
    inspected = json.loads(mr("inspect", server, check=True).stdout)[0]
    assert (inspected["Pod"], inspected["IsInfra"]) == (pod_id, False)
    assert inspected["HostConfig"]["NetworkMode"] == f"container:{infra}"
    top = mr("pod", "top", "shop", check=True).stdout
    assert "/catatonit -P" in top and "httpd -f -p 80" in top

    # what a member may not set; a running pod is not removed without -f
    r = mr("run", "--rm", "--pod", "shop", "-p", "8080:80", img, "true")
    assert r.returncode == 125 and "published or exposed ports must be defined when the pod " \
        "is created" in r.stderr
    r = mr("run", "--rm", "--pod", "shop", "--hostname", "x", img, "true")
    assert r.returncode == 125 and "cannot set hostname when joining the pod UTS" in r.stderr
    r = mr("rm", infra)
    assert r.returncode == 125 and "is the infra container of pod" in r.stderr
    r = mr("pod", "rm", "shop")
    assert r.returncode == 125 and "running or paused containers cannot be removed without " \
        "force" in r.stderr
    assert mr("pod", "exists", "shop").returncode == 0

    assert mr("pod", "rm", "-f", "shop", check=True).stdout == pod_id + "\n"
    assert mr("pod", "exists", "shop").returncode == 1
    assert mr("ps", "-aq", check=True).stdout == ""
    assert _left(mr, [infra, server]) == []


def test_pod_verbs_and_their_exit_codes(pods, img):
    mr = pods
    assert mr("pod", "exists", "nosuch").returncode == 1
    r = mr("pod", "rm", "nosuch")
    assert r.returncode == 1 and r.stderr == "Error: no pod with name or ID nosuch found: " \
                                             "no such pod\n"
    assert mr("pod", "inspect", "nosuch").returncode == 125
    r = mr("pod", "create", "--share", "ipc,mnt")
    assert r.returncode == 125 and "`mnt` cannot be shared" in r.stderr
    r = mr("run", "--rm", "--pod", "nosuch", img, "true")
    assert r.returncode == 125 and "no pod with name or ID nosuch" in r.stderr
    # --pod new:NAME makes the pod; a container refused leaves no pod behind
    r = mr("run", "--rm", "--pod", "new:fresh", "-p", "8080:80", img, "true")
    assert r.returncode == 125 and mr("pod", "exists", "fresh").returncode == 1
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""

    r = mr("run", "--pod", "new:fresh", "--name", "once", img, "hostname", check=True)
    assert r.stdout == "fresh\n"
    r = mr("pod", "create", "--name", "fresh")
    assert r.returncode == 125 and "fresh" in r.stderr and "in use" in r.stderr
    if mr.rt.rootless:          # one user namespace for the pod, with the infra's id maps
        r = mr("run", "--rm", "--pod", "fresh", "--userns", "keep-id", img, "true")
        assert r.returncode == 125 and "share its infra container's user namespace" in r.stderr
    pod_id = mr("pod", "inspect", "--format", "{{.Id}}", "fresh", check=True).stdout.strip()
    mr("create", "--pod", "fresh", "--name", "sleeper", img, "sleep", "1000", check=True)
    assert mr("pod", "start", "fresh", check=True).stdout == pod_id + "\n"
    states = {c["Name"]: c["State"] for c in json.loads(
        mr("pod", "inspect", "fresh", check=True).stdout)["Containers"]}
    assert states == {f"{pod_id[:12]}-infra": "running", "once": "exited",
                      "sleeper": "running"}
    assert json.loads(mr("pod", "inspect", "fresh").stdout)["State"] == "Degraded"
    assert mr("pod", "stop", "-t", "0", "fresh", check=True).stdout == pod_id + "\n"
    assert json.loads(mr("pod", "inspect", "fresh").stdout)["State"] == "Exited"
    assert mr("pod", "restart", "fresh", check=True).stdout == pod_id + "\n"
    assert mr("inspect", "--format", "{{.State.Status}}", f"{pod_id[:12]}-infra",
              "sleeper").stdout == "running\nrunning\n"
    # it ran at run, at pod start and at pod restart, each time in the pod
    assert mr("logs", "once").stdout == "fresh\nfresh\nfresh\n"
    if mr.rt.rootless:       # no freezer of a plain user's on cgroup v1 (podman's neither)
        r = mr("pod", "pause", "fresh")
        assert r.returncode == 125 and "cannot be paused" in r.stderr
    else:
        assert mr("pod", "pause", "fresh", check=True).stdout == pod_id + "\n"
        assert mr("inspect", "--format", "{{.State.Status}}", "sleeper").stdout == "paused\n"
        assert json.loads(mr("pod", "inspect", "fresh").stdout)["State"] == "Degraded"
        mr("pod", "unpause", "fresh", check=True)
    assert mr("pod", "kill", "fresh", check=True).stdout == pod_id + "\n"
    deadline = time.monotonic() + 10
    while json.loads(mr("pod", "inspect", "fresh").stdout)["State"] != "Exited":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert mr("pod", "prune", "-f", check=True).stdout == pod_id + "\n"
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""


def test_the_pod_flags_a_podman_script_types(pods, img):
    """pod create's -n, -h, NAME, --infra=false, --share none and +pid,
    --infra-name, --pod-id-file and --replace; pod ps's --filter, --sort,
    container columns and --noheading; pod inspect of a missing pod; the
    verbs' --all, --latest and --ignore; pod logs -n and --since; pod prune
    asking first: each as podman 4.3 answers it."""
    mr = pods
    id_file = os.path.join(mr.rt.scratch, "web.id")
    web = mr("pod", "create", "-n", "web", "-h", "webhost", "--infra-name", "web-infra",
             "--pod-id-file", id_file, "-l", "tier=front", check=True).stdout.strip()
    with open(id_file) as f:
        assert f.read() == web
    r = mr("pod", "create", "--name", "again", "--pod-id-file", id_file)
    assert r.returncode == 125 and "web.id: the file exists" in r.stderr
    assert mr("pod", "exists", "again").returncode == 1
    first = mr("pod", "create", "--share", "+pid", "plain", check=True).stdout.strip()
    mr("pod", "create", "--infra=false", "--name", "bare", check=True)
    mr("pod", "create", "--share", "none", "--name", "nothing", check=True)
    shown = {p["Name"]: p for p in json.loads(mr("pod", "inspect", "web", "plain", "bare",
                                                 "nothing", check=True).stdout)}
    assert (shown["web"]["Hostname"], shown["web"]["Containers"][0]["Name"]) == \
        ("webhost", "web-infra")
    assert shown["plain"]["SharedNamespaces"] == ["ipc", "net", "pid", "uts"]
    assert [(shown[n]["CreateInfra"], shown[n]["NumContainers"]) for n in ("bare", "nothing")] \
        == [(False, 0), (False, 0)]
    plain = mr("pod", "create", "--replace", "--name", "plain", check=True).stdout.strip()
    assert plain != first and mr("pod", "exists", first).returncode == 1
    assert mr("ps", "-aq", "--no-trunc", "--filter", f"pod={first}").stdout == ""

    mr("run", "-d", "--pod", "web", "--name", "w1", img, "sh", "-c", "echo one; sleep 1000",
       check=True)
    assert mr("exec", "w1", "hostname", check=True).stdout == "webhost\n"

    def names(*args: str) -> list[str]:
        return mr("pod", "ps", *args, "--format", "{{.Name}}", check=True).stdout.split()
    assert names() == ["plain", "nothing", "bare", "web"]            # newest first
    assert names("--sort", "name") == ["bare", "nothing", "plain", "web"]
    assert names("--sort", "number")[-1] == "web"
    assert names("--filter", "name=^web$") == names("--filter", "status=running") == \
        names("--filter", "label=tier=front") == names("--filter", "ctr-names=^w1$") == ["web"]
    assert names("--filter", "ctr-number=0") == ["nothing", "bare"]
    assert names("--filter", "name=web", "--filter", "name=bare") == ["bare", "web"]
    assert names("--filter", "name=a", "--filter", "status=created") == ["plain", "bare"]
    r = mr("pod", "ps", "--filter", "status=up")
    assert r.returncode == 125 and r.stderr.count("\n") == 1 and "a pod's status is" in r.stderr
    r = mr("pod", "ps", "--ctr-names", "--ctr-status", "--filter", "name=^web$", check=True)
    head, row = r.stdout.splitlines()
    assert head.split()[-3:] == ["ID", "NAMES", "STATUS"] and "#" not in head
    assert row.split()[-2:] == ["web-infra,w1", "running,running"]
    assert mr("pod", "ps", "--noheading", "--filter", "name=^web$").stdout.split()[:2] == \
        [web[:12], "web"]
    assert mr("pod", "list", "-q", check=True).stdout == mr("pod", "ps", "-q").stdout

    r = mr("pod", "inspect", "nosuch")
    assert (r.returncode, r.stdout) == (125, "[]\n") and "no such pod" in r.stderr
    r = mr("pod", "inspect", "web", "nosuch")
    assert r.returncode == 125 and json.loads(r.stdout)["Name"] == "web"

    assert mr("pod", "logs", "-n", "web", check=True).stdout == "w1 one\n"
    assert mr("pod", "logs", "--since", "1h", "web", check=True).stdout.endswith(" one\n")
    assert mr("pod", "logs", "--since", "2h", "--until", "1h", "web", check=True).stdout == ""

    r = mr("pod", "stop", "-i", "-t", "0", "nosuch", "web")
    assert (r.returncode, r.stdout) == (0, web + "\n"), r.stderr
    assert mr("pod", "start", "-l", check=True).stdout == plain + "\n"
    r = mr("pod", "stop", "-a", "-t", "0", "web")
    assert r.returncode == 125 and "no pod names are needed with --all" in r.stderr
    assert len(mr("pod", "stop", "-a", "-t", "0", check=True).stdout.split()) == 4
    r = mr("pod", "prune", input="")                  # asked, and no answer is no
    assert r.returncode == 0 and "Are you sure you want to continue? [y/N]" in r.stdout
    assert len(names()) == 4
    r = mr("pod", "prune", input="y\n", check=True)   # the pods that ran and ended
    assert r.stdout.split("[y/N] ")[1].split() == [plain, web], r.stdout
    assert names() == ["nothing", "bare"]
    assert mr("pod", "rm", "-i", "nosuch").returncode == 0
    assert mr("pod", "rm", "nosuch").returncode == 1
    assert mr("ps", "-aq").stdout == ""


def test_a_pod_that_shares_its_pid_namespace(pods, img):
    """--share pid: the infra's catatonit is every member's pid 1; pod top
    lists the namespace once."""
    mr = pods
    mr("pod", "create", "--name", "pids", "--share", "pid,net,ipc,uts", check=True)
    assert json.loads(mr("pod", "inspect", "pids", check=True).stdout)["SharedNamespaces"] == \
        ["ipc", "net", "pid", "uts"]
    mr("run", "-d", "--pod", "pids", "--name", "sleeper", img, "sleep", "1000", check=True)
    r = mr("run", "--rm", "--pod", "pids", img, "ps", "-o", "pid,args", check=True)
    rows = [line.split(None, 1) for line in r.stdout.splitlines()[1:]]
    assert rows[:2] == [["1", "/catatonit -P"], ["2", "sleep 1000"]], r.stdout
    top = mr("pod", "top", "pids", check=True).stdout.splitlines()
    assert len(top) == 3 and "catatonit" in top[1] and "sleep 1000" in top[2], top
    mr("pod", "rm", "-f", "pids", check=True)
    assert mr("ps", "-aq", check=True).stdout == ""


def test_a_pod_that_shares_ipc_alone(pods, img, ipcprobe):
    """--share ipc: the members share SysV IPC, and each has a network of its
    own (a plain user's made inside the pod's user namespace, which owns
    the IPC namespace they join)."""
    mr = pods
    mr("pod", "create", "--name", "ipconly", "--share", "ipc", check=True)
    mr("run", "-d", "--pod", "ipconly", "--name", "maker", "-v", f"{ipcprobe}:/probe:ro", img,
       "sh", "-c", "/probe/sysvipc make 77; sleep 1000", check=True)
    r = mr("run", "--rm", "--pod", "ipconly", "-v", f"{ipcprobe}:/probe:ro", img, "sh", "-c",
           "for i in $(seq 100); do /probe/sysvipc find 77 >/dev/null && echo ipc-shared && "
           "break; sleep 0.1; done; "
           "readlink /proc/self/ns/net; ip -o addr show | grep -v ' lo ' | grep -c inet",
           check=True)
    lines = r.stdout.splitlines()
    assert lines[0] == "ipc-shared", r.stdout + r.stderr
    maker = int(mr("inspect", "--format", "{{.State.Pid}}", "maker", check=True).stdout)
    assert lines[1] != _ns(maker, "net") and int(lines[2]) >= 1    # a network of its own
    mr("pod", "rm", "-f", "ipconly", check=True)
    assert mr("ps", "-aq", check=True).stdout == ""


def test_pod_logs_follows_every_member(pods, img):
    """pod logs -f: the members' lines as they come, each marked with its
    container's short id, until every member has ended."""
    mr = pods
    mr("pod", "create", "--name", "talk", check=True)
    ids = [mr("run", "-d", "--pod", "talk", img, "sh", "-c",
              f"for i in 1 2 3; do echo {who}-$i; sleep 0.2; done", check=True).stdout.strip()
           for who in ("one", "two")]
    out = mr("pod", "logs", "-f", "talk", check=True, timeout=30).stdout.splitlines()
    for cid, who in zip(ids, ("one", "two")):
        assert [line for line in out if line.startswith(cid[:12])] == \
            [f"{cid[:12]} {who}-{i}" for i in (1, 2, 3)], out
    assert mr("pod", "logs", "-c", ids[1], "talk", check=True).stdout == "two-1\ntwo-2\ntwo-3\n"
    r = mr("pod", "logs", "-c", "nosuch", "talk")
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    mr("pod", "rm", "-f", "talk", check=True)


POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: kpod
spec:
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c"]
    args: ["cp /data/page.txt /www/index.html; httpd -f -p 8080 -h /www"]
    env:
    - name: GREETING
      value: hello there
    ports:
    - containerPort: 8080
      hostPort: {port}
    resources:
      limits:
        memory: 64Mi
        cpu: 500m
    volumeMounts:
    - name: data
      mountPath: /data
      readOnly: true
    - name: scratch
      mountPath: /www
    workingDir: /www
  - name: client
    image: {image}
    command: ["sh", "-c", "for i in $(seq 100); do wget -qO- http://localhost:8080/index.html
              && break; sleep 0.1; done; sleep 1000"]
  volumes:
  - name: data
    hostPath:
      path: {data}
      type: Directory
  - name: scratch
    emptyDir: {{}}
"""


def _played(mr, path: str) -> tuple[str, list[str]]:
    """kube play: (the pod's id, its containers' ids), from podman's lines."""
    out = mr("kube", "play", path, check=True).stdout.split("\n")
    assert out[0] == "Pod:" and out[2] == "Containers:" and out[-2:] == ["", ""], out
    return out[1], out[3:-2]


def _without_stamp(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True)
                   if "creationTimestamp" not in line)


def test_kube_play_generate_and_play_again(pods, img):
    mr = pods
    data = os.path.dirname(_scratch(mr, "kube-data/page.txt", "from the host\n"))
    port = free_port()
    path = _scratch(mr, "pod.yaml", POD_YAML.format(image=img, port=port, data=data))

    pod_id, ids = _played(mr, path)
    assert len(ids) == 2
    info = json.loads(mr("pod", "inspect", "kpod", check=True).stdout)
    assert info["Id"] == pod_id and info["State"] == "Running"
    assert {c["Name"] for c in info["Containers"]} == {
        f"{pod_id[:12]}-infra", "kpod-web", "kpod-client"}
    assert fetch(f"http://127.0.0.1:{port}/index.html") == "from the host\n"
    deadline = time.monotonic() + 10
    while "from the host" not in mr("logs", "kpod-client").stdout:
        assert time.monotonic() < deadline, mr("logs", "kpod-client")
        time.sleep(0.1)
    logs = mr("pod", "logs", "kpod", check=True).stdout      # each line marked with its container
    assert f"{ids[1][:12]} from the host\n" in logs or f"{ids[0][:12]} from the host\n" in logs
    env = mr("exec", "kpod-web", "sh", "-c", 'echo "$GREETING"; pwd', check=True).stdout
    assert env == "hello there\n/www\n"

    generated = mr("kube", "generate", "kpod", check=True).stdout
    model = _v1pod(generated)
    assert model.metadata.name == "kpod" and model.kind == "Pod"
    web, client = model.spec.containers
    assert (web.name, web.image, web.command, web.args, web.working_dir) == (
        "web", img, ["sh"], ["-c", "cp /data/page.txt /www/index.html; "
                             "httpd -f -p 8080 -h /www"], "/www")
    assert [(e.name, e.value) for e in web.env] == [("GREETING", "hello there")]
    assert [(p.container_port, p.host_port) for p in web.ports] == [(8080, port)]
    if not mr.rt.rootless:     # (a plain user's limits are ignored on cgroup v1, as podman's)
        assert web.resources.limits == {"memory": "64Mi", "cpu": "500m"}
    mounts = {m.mount_path: m for m in web.volume_mounts}
    volumes = {v.name: v for v in model.spec.volumes}
    assert volumes[mounts["/data"].name].host_path.path == data and mounts["/data"].read_only
    assert volumes[mounts["/www"].name].empty_dir is not None
    assert (client.name, client.command[0]) == ("client", "sh")

    out = mr("kube", "down", path, check=True).stdout
    assert out == f"Pods stopped:\n{pod_id}\nPods removed:\n{pod_id}\n"
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""
    assert _left(mr, ids, timeout=10) == []

    again = _scratch(mr, "generated.yaml", generated)
    pod2, ids2 = _played(mr, again)                 # the same pod again
    assert pod2 != pod_id and len(ids2) == 2
    assert fetch(f"http://127.0.0.1:{port}/index.html") == "from the host\n"
    assert _without_stamp(mr("kube", "generate", "kpod", check=True).stdout) == \
        _without_stamp(generated)
    assert mr("kube", "down", again, check=True).stdout.splitlines()[-1] == pod2
    assert mr("pod", "ps", "-q", check=True).stdout == ""


def test_kube_generate_of_a_container_and_its_settings(pods, img):
    """One container (not in a pod) as a pod of its own, NAME-pod: its
    securityContext, a named volume as a persistentVolumeClaim, a bind mount
    as a hostPath; checked with the client's model, then played."""
    mr = pods
    host = os.path.dirname(_scratch(mr, "host-dir/note", "bound\n"))
    port = free_port()
    mr("create", "--name", "lone", "-v", "lone-data:/data", "-v", f"{host}:/h:ro",
       "--read-only", "--cap-drop", "NET_RAW", "--cap-add", "SYS_TIME", "-u", "1000:1000",
       "-e", "A=b", "-w", "/data", "-p", f"{port}:8080", img, "sleep", "1000", check=True)
    generated = mr("kube", "generate", "lone", check=True).stdout
    model = _v1pod(generated)
    assert model.metadata.name == "lone-pod" and model.spec.restart_policy == "Never"
    (c,) = model.spec.containers
    assert (c.name, c.args, c.working_dir) == ("lone", ["sleep", "1000"], "/data")
    sc = c.security_context
    assert (sc.read_only_root_filesystem, sc.run_as_user, sc.run_as_group) == (True, 1000, 1000)
    assert (sc.capabilities.add, sc.capabilities.drop) == (["SYS_TIME"], ["NET_RAW"])
    assert [(p.container_port, p.host_port) for p in c.ports] == [(8080, port)]
    volumes = {v.name: v for v in model.spec.volumes}
    mounts = {m.mount_path: m.name for m in c.volume_mounts}
    assert volumes[mounts["/data"]].persistent_volume_claim.claim_name == "lone-data"
    assert mounts["/data"] == "lone-data-pvc"
    assert volumes[mounts["/h"]].host_path.path == host

    mr("rm", "lone", check=True)
    path = _scratch(mr, "lone.yaml", generated)
    mr("kube", "play", path, check=True)
    r = mr("exec", "lone-pod-lone", "sh", "-c", "id -u; id -g; cat /h/note; pwd", check=True)
    assert r.stdout == "1000\n1000\nbound\n/data\n"
    assert mr("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}",
              "lone-pod-lone").stdout == "true\n"
    assert "lone-data" in mr("volume", "ls", "-q", check=True).stdout
    mr("kube", "down", path, check=True)
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""


MULTI_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dep
spec:
  replicas: 1
  selector:
    matchLabels: {{app: dep}}
  template:
    metadata:
      labels: {{app: dep}}
    spec:
      restartPolicy: Always
      hostNetwork: true
      containers:
      - name: worker
        image: {image}
        args: ["sleep", "1000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
spec:
  hostname: solo-host
  shareProcessNamespace: true
  containers:
  - name: main
    image: {image}
    command: ["sleep", "1000"]
"""


def test_kube_play_a_deployment_and_a_pod_in_one_file(pods, img):
    """Several documents: a Deployment's pod template (one pod, NAME-pod-0,
    as podman names it; on the host's network) and a Pod (sharing its PID
    namespace), each printed as podman prints it."""
    mr = pods
    path = _scratch(mr, "multi.yaml", MULTI_YAML.format(image=img))
    out = mr("kube", "play", path, check=True).stdout.split("\n")
    assert [out[0], out[2], out[4], out[5], out[7], out[9:]] == \
        ["Pod:", "Container:", "", "Pod:", "Container:", ["", ""]], out
    names = mr("pod", "ps", "--format", "{{.Name}} {{.Status}}", check=True).stdout
    assert sorted(names.splitlines()) == ["dep-pod-0 Running", "solo Running"]
    r = mr("exec", "dep-pod-0-worker", "sh", "-c", "hostname; readlink /proc/self/ns/net",
           check=True)
    assert r.stdout == f"dep-pod-0\n{_ns(os.getpid(), 'net')}\n"     # hostNetwork: the host's
    r = mr("exec", "solo-main", "sh", "-c", "hostname; cat /proc/1/cmdline", check=True)
    assert r.stdout == "solo-host\n/catatonit\0-P\0"      # shareProcessNamespace: pid 1 the infra's
    # restartPolicy: the Deployment's Always is its container's --restart always
    policies = mr("inspect", "--format", "[{{.HostConfig.RestartPolicy.Name}}]",
                  "dep-pod-0-worker", "solo-main", check=True).stdout
    assert policies == "[always]\n[]\n", policies        # (podman's "" for no)
    assert "restartPolicy: Always" in mr("kube", "generate", "dep-pod-0", check=True).stdout
    # again: the names are taken; --replace takes those pods down first, and
    # --start=false leaves the new ones made
    r = mr("kube", "play", path)
    assert r.returncode == 125 and "name \"dep-pod-0\" is in use" in r.stderr
    again = mr("kube", "play", "--replace", "--start=false", path, check=True).stdout.split("\n")
    assert again[:6] == ["Pods stopped:", out[1], out[6], "Pods removed:", out[1], out[6]]
    assert [again[6], again[8], again[11]] == ["Pod:", "Container:", "Pod:"], again
    assert mr("pod", "ps", "--format", "{{.Name}} {{.Status}}").stdout.split("\n")[:2] == \
        ["solo Created", "dep-pod-0 Created"]
    out = again[6:]
    lines = mr("kube", "down", path, check=True).stdout.splitlines()
    assert lines == ["Pods stopped:", out[1], out[6], "Pods removed:", out[1], out[6]]
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""


def test_kube_bad_input_one_line_nothing_made(pods, img):
    mr = pods
    cases = [
        ("kind: Service\nmetadata: {name: s}\n", "kind 'Service' is not supported"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {}\n", "spec.containers is missing"),
        ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n",
         "a container needs a name and an image"),
        (f"kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: a, image: {img}, "
         "volumeMounts: [{name: v, mountPath: /v}]}\n", "no volume of that name"),
        ("kind: Pod\n  metadata: [\n", "is not YAML"),
        (f"kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - {{name: a, image: {img}, "
         "resources: {limits: {memory: lots}}}\n", "is not a quantity"),
        (f"kind: Pod\nmetadata: {{name: p}}\nspec:\n  initContainers: [{{name: i, image: {img}}}]"
         f"\n  containers:\n  - {{name: a, image: {img}}}\n", "spec.initContainers: not supported"),
    ]
    for text, said in cases:
        path = _scratch(mr, "bad.yaml", text)
        r = mr("kube", "play", path)
        assert r.returncode == 125 and said in r.stderr, (text, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""
    # an image that cannot be pulled: the pod made for it goes again
    missing = img.rsplit("/", 2)[0] + "/test/nosuch:latest"
    path = _scratch(mr, "bad.yaml", f"kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n"
                                    f"  - {{name: a, image: '{missing}'}}\n")
    r = mr("kube", "play", path)
    assert r.returncode == 125 and "nosuch" in r.stderr, r.stderr
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""
    # kube down of pods that are not all there: said (125), and none touched
    mr("pod", "create", "--name", "p", check=True)
    path = _scratch(mr, "two.yaml", "".join(
        f"---\nkind: Pod\nmetadata: {{name: {n}}}\nspec:\n  containers:\n"
        f"  - {{name: a, image: '{img}'}}\n" for n in "pq"))
    r = mr("kube", "down", path)
    assert r.returncode == 125 and r.stderr == "Error: no pod with name or ID q found: no " \
        "such pod\n" and r.stdout == ""
    assert mr("pod", "exists", "p").returncode == 0
    r = mr("kube", "generate", "nosuch")
    assert r.returncode == 125 and r.stderr.startswith("Error: no pod or container with name "
                                                       "or ID nosuch found")


def _alike(text: str, port: int | None = None) -> list[list[str]]:
    """A tool's output as words per line, with what must differ between
    podman and minirun made alike: 64- and 12-hex ids, times ago, the
    side's own host port, and the order of a comma-separated list (pod ps's
    containers: podman's come in no fixed order)."""
    import re
    text = re.sub(r"\b[0-9a-f]{64}\b", "ID", re.sub(r"\b[0-9a-f]{12}\b", "SHORT", text))
    text = re.sub(r"(Less than a second|About an? \w+|\d+ \w+) ago", "AGO", text)
    text = text.replace(str(port), "PORT") if port else text
    return [[",".join(sorted(word.split(","))) for word in line.split()]
            for line in text.splitlines()]


def test_like_podman_pod_ps_inspect_and_create(pods, img, podman):
    """The same pods made by podman 4.3 and by minirun (as root and as the
    test user): pod ps's columns, rows, --filter and --sort, inspect's
    fields, pod create's flags, and the exit codes of a missing pod."""
    mr, ports = pods, (free_port(), free_port())
    for tool, port in ((podman, ports[0]), (mr, ports[1])):
        r = tool("pod", "create", "--name", "same", "-p", f"{port}:80", "--label", "a=b")
        assert r.returncode == 0, r.stderr
    a = json.loads(podman("pod", "inspect", "same").stdout)
    b = json.loads(mr("pod", "inspect", "same", check=True).stdout)
    for f in ("Name", "State", "Hostname", "Labels", "NumContainers", "CreateInfra"):
        assert a[f] == b[f], f
    assert sorted(a["SharedNamespaces"]) == b["SharedNamespaces"]   # (podman's: a Go
    # map's order, which changes from run to run)
    assert [sorted(c) for c in a["Containers"]] == [sorted(c) for c in b["Containers"]]
    assert a["Containers"][0]["Name"].endswith("-infra") and \
        b["Containers"][0]["Name"].endswith("-infra")
    for key in ("PortBindings", "HostNetwork", "pid_ns", "userns", "uts_ns"):
        assert _alike(json.dumps(a["InfraConfig"][key]), ports[0]) == \
            _alike(json.dumps(b["InfraConfig"][key]), ports[1]), key
    head = [r.splitlines()[0] for r in (podman("pod", "ps").stdout, mr("pod", "ps").stdout)]
    assert head[0].split() == head[1].split()
    rows = [json.loads(r)[0] for r in (podman("pod", "ps", "--format", "json").stdout,
                                       mr("pod", "ps", "--format", "json").stdout)]
    assert sorted(rows[0]) == sorted(rows[1])
    assert [sorted(c) for c in rows[0]["Containers"]] == \
        [sorted(c) for c in rows[1]["Containers"]]
    for args in (("--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}} {{.Labels}}"),
                 ("-q",), ("--no-trunc", "-q"), ("--noheading",), ("--ctr-names",),
                 ("--ctr-ids", "--ctr-status", "--noheading")):
        theirs, ours = podman("pod", "ps", *args), mr("pod", "ps", *args)
        assert theirs.returncode == ours.returncode == 0, (args, ours.stderr)
        assert _alike(theirs.stdout) == _alike(ours.stdout), (args, theirs.stdout, ours.stdout)

    # pod create's flags, and what pod ps then lists and filters
    for args in (("-n", "x1", "-h", "hh"), ("--infra=false", "--name", "x2"),
                 ("--share", "none", "--name", "x3"), ("--share", "+pid", "--name", "x4"),
                 ("--infra-name", "x5-infra", "--name", "x5"), ("x6",),
                 ("--replace", "--name", "x4"), ("--name", "x1"), ("--share", "ipc,mnt"),
                 ("--share", "net,+pid"), ("--name", "bad name")):
        theirs, ours = podman("pod", "create", *args), mr("pod", "create", *args)
        assert theirs.returncode == ours.returncode, (args, theirs.stderr, ours.stderr)
        assert ours.returncode == 0 or ours.stderr.count("\n") == 1, ours.stderr
    fmt = "{{.Name}} {{.Hostname}} {{.NumContainers}} {{.CreateInfra}} {{.SharedNamespaces}}"
    names = ("x1", "x2", "x3", "x4", "x5", "x6")
    theirs = podman("pod", "inspect", "-f", fmt, *names).stdout.splitlines()
    ours = mr("pod", "inspect", "-f", fmt, *names, check=True).stdout.splitlines()
    assert [ln.split(" [")[0] for ln in theirs] == [ln.split(" [")[0] for ln in ours]
    assert [sorted(ln.split(" [")[1].strip("]").split()) for ln in theirs] == \
        [sorted(ln.split(" [")[1].strip("]").split()) for ln in ours]
    assert "x5-infra" in podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert "x5-infra" in mr("ps", "-a", "--format", "{{.Names}}").stdout.split()
    for args in (("--sort", "name"), ("--filter", "name=^x"), ("--filter", "label=a=b"),
                 ("--filter", "ctr-number=0"), ("--filter", "status=created"),
                 ("--filter", "name=x1", "--filter", "name=x2"), ("--filter", "id=zzz"),
                 ("--filter", "network=none"), ("--filter", "status=bogus"),
                 ("--filter", "bogus=1"), ("--sort", "bogus")):
        theirs = podman("pod", "ps", *args, "--format", "{{.Name}}")
        ours = mr("pod", "ps", *args, "--format", "{{.Name}}")
        assert (theirs.returncode, sorted(theirs.stdout.split())) == \
            (ours.returncode, sorted(ours.stdout.split())), (args, theirs.stderr, ours.stderr)
        if args[0] == "--sort" and ours.returncode == 0:
            assert theirs.stdout == ours.stdout, args

    # a pod that is not there: the same codes, inspect's [] on stdout
    for args in (("pod", "exists", "nosuch"), ("pod", "rm", "nosuch"),
                 ("pod", "rm", "-i", "nosuch"), ("pod", "inspect", "nosuch"),
                 ("pod", "start", "nosuch"), ("pod", "stop", "nosuch"),
                 ("pod", "stop", "-i", "nosuch"), ("pod", "kill", "nosuch"),
                 ("pod", "pause", "nosuch"), ("pod", "top", "nosuch"),
                 ("pod", "logs", "nosuch"), ("kube", "generate", "nosuch"),
                 ("run", "--rm", "--pod", "nosuch", img, "true")):
        theirs, ours = podman(*args), mr(*args)
        assert theirs.returncode == ours.returncode, (args, theirs.stderr, ours.stderr)
        assert theirs.stdout == ours.stdout, args
        said = ours.returncode and args[1] != "exists"      # (exists: a code, no words)
        assert ours.stderr.count("\n") == (1 if said else 0), ours.stderr
        assert ours.stderr.startswith("Error: " if said else ""), ours.stderr
    r = mr("pod", "inspect", "same", "nosuch")
    assert podman("pod", "inspect", "same", "nosuch").returncode == r.returncode == 125
    assert json.loads(r.stdout)["Name"] == "same"


def test_like_podman_members_and_kube(pods, img, podman):
    """A member of each tool's pod, of the same image: its ports (the pod's),
    the pod's verbs and their codes, pod logs, pod prune's question, kube
    generate's shape and kube play/down's lines (as root and as the test
    user)."""
    mr, ports = pods, (free_port(), free_port())
    r = podman("pull", "-q", img)
    assert r.returncode == 0, r.stderr
    flags = ("--pod", "same", "--name", "same-app", "-e", "K=v", "-w", "/tmp",
             "-v", "/tmp:/hosttmp:ro", "-v", "same-vol:/nv", "--memory", "64m",
             "--cpus", "0.5")
    for tool, port in ((podman, ports[0]), (mr, ports[1])):
        assert tool("pod", "create", "--name", "same", "-p", f"{port}:80").returncode == 0
        r = tool("create", *flags, img, "httpd", "-f", "-p", "80")
        assert r.returncode == 0, r.stderr
    import yaml
    ya = yaml.safe_load(podman("kube", "generate", "same").stdout)
    yb = yaml.safe_load(mr("kube", "generate", "same", check=True).stdout)
    for key in ("apiVersion", "kind"):
        assert ya[key] == yb[key]
    assert ya["metadata"]["name"] == yb["metadata"]["name"] and \
        ya["metadata"]["labels"] == yb["metadata"]["labels"] == {"app": "same"}
    assert ya["metadata"]["creationTimestamp"].endswith("Z") and \
        yb["metadata"]["creationTimestamp"].endswith("Z")
    for key in ("hostname", "restartPolicy", "enableServiceLinks",
                "automountServiceAccountToken"):
        assert ya["spec"][key] == yb["spec"][key], key
    def by_name(items: list[dict]) -> list[dict]:       # (podman's come in a Go map's order)
        return sorted(items, key=lambda v: v["name"])
    assert by_name(ya["spec"]["volumes"]) == by_name(yb["spec"]["volumes"])
    ca, cb = ya["spec"]["containers"][0], yb["spec"]["containers"][0]
    assert ca["workingDir"] == cb["workingDir"]
    assert by_name(ca["volumeMounts"]) == by_name(cb["volumeMounts"])
    assert _alike(json.dumps(ca["ports"]), ports[0]) == _alike(json.dumps(cb["ports"]), ports[1])
    assert (ca.get("resources") or {}) == (cb.get("resources") or {})   # (none: a plain
    # user's limits on cgroup v1, ignored by both)
    assert ca["env"] == cb["env"] == [{"name": "K", "value": "v"}]
    # podman keeps the pod's name in the container's (and kube play adds it
    # again: same-same-app); minirun takes it off, so play gives back same-app
    assert (ca["name"], cb["name"]) == ("same-app", "app")

    # the member shows the pod's ports; pod ps its containers
    for args in (("pod", "start", "same"), ("port", "same-app"),
                 ("ps", "--filter", "name=same-app", "--format", "{{.Ports}}"),
                 ("inspect", "-f", "{{.NetworkSettings.Ports}} {{.HostConfig.PortBindings}}",
                  "same-app"),
                 ("pod", "ps", "--ctr-names", "--ctr-status", "--noheading"),
                 ("pod", "ps", "--filter", "ctr-status=running", "--format", "{{.Name}}")):
        theirs, ours = podman(*args), mr(*args)
        assert theirs.returncode == ours.returncode == 0, (args, theirs.stderr, ours.stderr)
        assert _alike(theirs.stdout, ports[0]) == _alike(ours.stdout, ports[1]), \
            (args, theirs.stdout, ours.stdout)
    for tool in (podman, mr):
        assert tool("run", "--pod", "same", "--name", "same-echo", img, "echo",
                    "hello").returncode == 0
    assert podman("pod", "logs", "-n", "-c", "same-echo", "same").stdout == \
        mr("pod", "logs", "-n", "-c", "same-echo", "same").stdout == "hello\n"
    assert "same-echo hello\n" in podman("pod", "logs", "-n", "same").stdout
    assert mr("pod", "logs", "-n", "same").stdout == "same-echo hello\n"

    # the verbs: the same codes (pod kill and pod top of nothing running: 0,
    # and no output; pod rm without -f of a pod whose infra alone runs: 0)
    for args in (("pod", "stop", "-t", "0", "same"), ("pod", "inspect", "same", "same"),
                 ("pod", "kill", "same"), ("pod", "top", "same"), ("pod", "rm", "same")):
        theirs, ours = podman(*args), mr(*args)
        assert theirs.returncode == ours.returncode == 0, (args, theirs.stderr, ours.stderr)
        if args[1] == "top":
            assert theirs.stdout == ours.stdout == "", args
        if args[1] in ("kill", "stop", "rm"):     # the pod's id
            assert len(theirs.stdout) == len(ours.stdout) == 65, args
        if args[1] == "inspect":       # several pods: a list (one: an object)
            assert isinstance(json.loads(theirs.stdout), list) and \
                isinstance(json.loads(ours.stdout), list)
    # pod prune asks first; no answer is no (podman: an error, EOF; minirun:
    # no, as its system prune)
    for tool in (podman, mr):
        tool("pod", "create", "--name", "ran", check=True) if tool is mr else \
            tool("pod", "create", "--name", "ran")
        tool("pod", "start", "ran")
        tool("pod", "stop", "-t", "0", "ran")
    theirs, ours = podman("pod", "prune"), mr("pod", "prune", input="")
    assert "Are you sure you want to continue? [y/N]" in theirs.stdout and \
        "Are you sure you want to continue? [y/N]" in ours.stdout
    assert podman("pod", "exists", "ran").returncode == mr("pod", "exists", "ran").returncode == 0
    theirs, ours = podman("pod", "prune", "-f"), mr("pod", "prune", "-f")
    assert len(theirs.stdout) == len(ours.stdout) == 65

    # kube play and down of the same two-container Pod: the same lines, the
    # same names; down of a pod that is not there: the same code
    path = _scratch(mr, "two.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: kp}\n"
                    "spec:\n  containers:\n" + "".join(
                        f"  - {{name: {n}, image: '{img}', command: [sleep, '100']}}\n"
                        for n in "ab"))
    for tool in (podman, mr):
        played = tool("kube", "play", path)
        assert played.returncode == 0, played.stderr
        lines = played.stdout.split("\n")
        assert [lines[0], lines[2], lines[5:]] == ["Pod:", "Containers:", ["", ""]], lines
        names = sorted(n for n in tool("ps", "-a", "--format", "{{.Names}}").stdout.split()
                       if n.startswith("kp-"))
        assert names == ["kp-a", "kp-b"]
        down = tool("kube", "down", path).stdout
        assert down == f"Pods stopped:\n{lines[1]}\nPods removed:\n{lines[1]}\n"
    theirs, ours = podman("kube", "down", path), mr("kube", "down", path)
    assert theirs.returncode == ours.returncode == 125 and theirs.stdout == ours.stdout == ""
