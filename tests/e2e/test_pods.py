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
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.conftest import is_root, processes

PROBES = os.path.join(os.path.dirname(__file__), "probes")


@pytest.fixture(scope="session")
def ipcprobe():
    """A directory holding the SysV IPC probe, built static for busybox."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the SysV IPC probe (scripts/setup-host installs it)")
    d = tempfile.mkdtemp(prefix="minirun-probes-", dir="/tmp")
    os.chmod(d, 0o755)
    subprocess.run(["gcc", "-static", "-O2", "-o", f"{d}/sysvipc", f"{PROBES}/sysvipc.c"],
                   check=True, capture_output=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pods(mr):
    """`mr`, whose pods go (with -f) before its containers do."""
    yield mr
    if os.path.isdir(mr.store):
        mr("pod", "rm", "-fa", timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fetch(url: str, tries: int = 100) -> str:
    import urllib.request
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


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
    port = _free_port()
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
           "sleep 0.5; hostname; wget -qO- http://localhost/index.html; nc localhost 9000; "
           "/probe/sysvipc find 4242 >/dev/null && echo ipc-shared; "
           "for n in ipc uts net; do readlink /proc/self/ns/$n; done", check=True)
    lines = r.stdout.splitlines()
    assert lines[:4] == ["shop", "served", "over-nc", "ipc-shared"], r.stdout + r.stderr
    infra_pid = int(mr("inspect", "--format", "{{.State.Pid}}", infra, check=True).stdout)
    assert lines[4:] == [_ns(infra_pid, n) for n in ("ipc", "uts", "net")]
    # a container outside the pod has none of it
    r = mr("run", "--rm", "-v", f"{ipcprobe}:/probe:ro", img, "sh", "-c",
           "/probe/sysvipc find 4242 || echo no-ipc; hostname", check=True)
    assert r.stdout.splitlines()[0] == "no-ipc" and r.stdout.splitlines()[1] != "shop"

    assert _fetch(f"http://127.0.0.1:{port}/index.html") == "served\n"   # the pod's port
    listing = json.loads(mr("pod", "ps", "--format", "json", check=True).stdout)
    assert [(p["Name"], p["Status"], p["InfraId"], len(p["Containers"])) for p in listing] == \
        [("shop", "Running", infra, 2)]
    assert mr("pod", "ps", "-q", check=True).stdout == pod_id[:12] + "\n"
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
    assert mr("pod", "prune", check=True).stdout == pod_id + "\n"
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""


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
           "sleep 0.3; /probe/sysvipc find 77 >/dev/null && echo ipc-shared; "
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
    command: ["sh", "-c", "sleep 0.5; wget -qO- http://localhost:8080/index.html; sleep 1000"]
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
    kubernetes = pytest.importorskip("kubernetes", reason="the test dependency `kubernetes` "
                                     "(pip install -e .[test]) checks the generated YAML")
    import yaml
    mr = pods
    data = os.path.join(mr.rt.scratch, "kube-data")
    os.makedirs(data)
    with open(os.path.join(data, "page.txt"), "w") as f:
        f.write("from the host\n")
    os.chmod(data, 0o755)
    os.chmod(os.path.join(data, "page.txt"), 0o644)
    port = _free_port()
    path = os.path.join(mr.rt.scratch, "pod.yaml")
    with open(path, "w") as f:
        f.write(POD_YAML.format(image=img, port=port, data=data))
    os.chmod(path, 0o644)

    pod_id, ids = _played(mr, path)
    assert len(ids) == 2
    info = json.loads(mr("pod", "inspect", "kpod", check=True).stdout)
    assert info["Id"] == pod_id and info["State"] == "Running"
    assert {c["Name"] for c in info["Containers"]} == {
        f"{pod_id[:12]}-infra", "kpod-web", "kpod-client"}
    assert _fetch(f"http://127.0.0.1:{port}/index.html") == "from the host\n"
    deadline = time.monotonic() + 10
    while "from the host" not in mr("logs", "kpod-client").stdout:
        assert time.monotonic() < deadline, mr("logs", "kpod-client")
        time.sleep(0.1)
    logs = mr("pod", "logs", "kpod", check=True).stdout      # each line marked with its container
    assert f"{ids[1][:12]} from the host\n" in logs or f"{ids[0][:12]} from the host\n" in logs
    env = mr("exec", "kpod-web", "sh", "-c", 'echo "$GREETING"; pwd', check=True).stdout
    assert env == "hello there\n/www\n"

    generated = mr("kube", "generate", "kpod", check=True).stdout
    doc = yaml.safe_load(generated)
    api = kubernetes.client.ApiClient()
    model = api._ApiClient__deserialize(doc, "V1Pod")     # the client's own model
    assert api.sanitize_for_serialization(model) == doc   # no field dropped or renamed
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

    again = os.path.join(mr.rt.scratch, "generated.yaml")
    with open(again, "w") as f:
        f.write(generated)
    os.chmod(again, 0o644)
    pod2, ids2 = _played(mr, again)                 # the same pod again
    assert pod2 != pod_id and len(ids2) == 2
    assert _fetch(f"http://127.0.0.1:{port}/index.html") == "from the host\n"
    assert _without_stamp(mr("kube", "generate", "kpod", check=True).stdout) == \
        _without_stamp(generated)
    assert mr("kube", "down", again, check=True).stdout.splitlines()[-1] == pod2
    assert mr("pod", "ps", "-q", check=True).stdout == ""


def test_kube_generate_of_a_container_and_its_settings(pods, img):
    """One container (not in a pod) as a pod of its own, NAME-pod: its
    securityContext, a named volume as a persistentVolumeClaim, a bind mount
    as a hostPath; checked with the client's model, then played."""
    kubernetes = pytest.importorskip("kubernetes", reason="the test dependency `kubernetes` "
                                     "(pip install -e .[test]) checks the generated YAML")
    import yaml
    mr = pods
    host = os.path.join(mr.rt.scratch, "host-dir")
    os.makedirs(host)
    with open(os.path.join(host, "note"), "w") as f:
        f.write("bound\n")
    os.chmod(host, 0o755)
    os.chmod(os.path.join(host, "note"), 0o644)
    port = _free_port()
    mr("create", "--name", "lone", "-v", "lone-data:/data", "-v", f"{host}:/h:ro",
       "--read-only", "--cap-drop", "NET_RAW", "--cap-add", "SYS_TIME", "-u", "1000:1000",
       "-e", "A=b", "-w", "/data", "-p", f"{port}:8080", img, "sleep", "1000", check=True)
    generated = mr("kube", "generate", "lone", check=True).stdout
    doc = yaml.safe_load(generated)
    api = kubernetes.client.ApiClient()
    model = api._ApiClient__deserialize(doc, "V1Pod")
    assert api.sanitize_for_serialization(model) == doc
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
    path = os.path.join(mr.rt.scratch, "lone.yaml")
    with open(path, "w") as f:
        f.write(generated)
    os.chmod(path, 0o644)
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
  containers:
  - name: main
    image: {image}
    command: ["sleep", "1000"]
"""


def test_kube_play_a_deployment_and_a_pod_in_one_file(pods, img):
    """Several documents: a Deployment's pod template (one pod, NAME-pod-0,
    as podman names it) and a Pod, each printed as podman prints it."""
    mr = pods
    path = os.path.join(mr.rt.scratch, "multi.yaml")
    with open(path, "w") as f:
        f.write(MULTI_YAML.format(image=img))
    os.chmod(path, 0o644)
    out = mr("kube", "play", path, check=True).stdout.split("\n")
    assert [out[0], out[2], out[4], out[5], out[7], out[9:]] == \
        ["Pod:", "Container:", "", "Pod:", "Container:", ["", ""]], out
    names = mr("pod", "ps", "--format", "{{.Name}} {{.Status}}", check=True).stdout
    assert sorted(names.splitlines()) == ["dep-pod-0 Running", "solo Running"]
    r = mr("exec", "dep-pod-0-worker", "hostname", check=True)
    assert r.stdout == "dep-pod-0\n"
    assert mr("exec", "solo-main", "hostname", check=True).stdout == "solo-host\n"
    # restartPolicy: the Deployment's Always is its container's --restart always
    policies = mr("inspect", "--format", "[{{.HostConfig.RestartPolicy.Name}}]",
                  "dep-pod-0-worker", "solo-main", check=True).stdout
    assert policies == "[always]\n[]\n", policies        # (podman's "" for no)
    assert "restartPolicy: Always" in mr("kube", "generate", "dep-pod-0", check=True).stdout
    lines = mr("kube", "down", path, check=True).stdout.splitlines()
    assert lines == ["Pods stopped:", out[1], out[6], "Pods removed:", out[1], out[6]]
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""


def test_kube_bad_input_one_line_nothing_made(pods, img):
    mr = pods
    path = os.path.join(mr.rt.scratch, "bad.yaml")
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
    ]
    for text, said in cases:
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        r = mr("kube", "play", path)
        assert r.returncode == 125 and said in r.stderr, (text, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""
    # an image that cannot be pulled: the pod made for it goes again
    missing = img.rsplit("/", 2)[0] + "/test/nosuch:latest"
    with open(path, "w") as f:
        f.write(f"kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n"
                f"  - {{name: a, image: '{missing}'}}\n")
    r = mr("kube", "play", path)
    assert r.returncode == 125 and "nosuch" in r.stderr, r.stderr
    assert mr("pod", "ps", "-q", check=True).stdout == "" and mr("ps", "-aq").stdout == ""


def _podman(d: str, *args: str) -> subprocess.CompletedProcess:
    """podman 4.3 with a private store; runc, with the limits this host allows
    (docs: /work/shared/HOST.md), in a containers.conf of its own."""
    conf = os.path.join(d, "containers.conf")
    if not os.path.exists(conf):
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    '[engine]\nruntime = "runc"\n')
    return subprocess.run(["podman", "--root", f"{d}/root", "--runroot", f"{d}/run",
                           "--storage-driver", "vfs", *args], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, CONTAINERS_CONF=conf))


def test_like_podman(pods, img):
    """The same pod made by podman 4.3 and by minirun (as root; nothing run):
    pod ps's columns, inspect's fields, the exit codes of a missing pod, and
    kube generate's shape."""
    if shutil.which("podman") is None or pods.rt.rootless or not is_root():
        pytest.skip("podman 4.3 is compared as root (apt-get install podman)")
    mr = pods
    d = tempfile.mkdtemp(prefix="minirun-podman-pods-", dir="/tmp")
    try:
        theirs = _podman(d, "pod", "create", "--name", "same", "-p", "18999:80",
                         "--label", "a=b")
        if theirs.returncode != 0:
            pytest.skip(f"podman cannot make a pod here: {theirs.stderr.strip()}")
        mr("pod", "create", "--name", "same", "-p", "18999:80", "--label", "a=b", check=True)
        a = json.loads(_podman(d, "pod", "inspect", "same").stdout)
        b = json.loads(mr("pod", "inspect", "same", check=True).stdout)
        fields = ["Id", "Name", "Created", "State", "Hostname", "Labels", "SharedNamespaces",
                  "NumContainers", "Containers", "InfraContainerID"]
        assert all(f in a and f in b for f in fields)
        for f in ("Name", "State", "Hostname", "Labels", "NumContainers"):
            assert a[f] == b[f], f
        assert sorted(a["SharedNamespaces"]) == b["SharedNamespaces"]   # (podman's: a Go
        # map's order, which changes from run to run)
        assert [sorted(c) for c in a["Containers"]] == [sorted(c) for c in b["Containers"]]
        assert a["Containers"][0]["Name"].endswith("-infra") and \
            b["Containers"][0]["Name"].endswith("-infra")
        assert a["InfraConfig"]["PortBindings"] == b["InfraConfig"]["PortBindings"]
        head = [r.splitlines()[0] for r in (_podman(d, "pod", "ps").stdout,
                                            mr("pod", "ps").stdout)]
        assert head[0].split() == head[1].split()
        rows = [json.loads(r)[0] for r in (_podman(d, "pod", "ps", "--format", "json").stdout,
                                           mr("pod", "ps", "--format", "json").stdout)]
        assert sorted(rows[0]) == sorted(rows[1])
        assert [sorted(c) for c in rows[0]["Containers"]] == \
            [sorted(c) for c in rows[1]["Containers"]]
        fmt = "{{.Name}} {{.Status}} {{.NumberOfContainers}}"
        assert _podman(d, "pod", "ps", "--format", fmt).stdout == \
            mr("pod", "ps", "--format", fmt).stdout == "same Created 1\n"
        for args in (("pod", "exists", "nosuch"), ("pod", "rm", "nosuch"),
                     ("pod", "inspect", "nosuch"), ("pod", "create", "--name", "same")):
            assert _podman(d, *args).returncode == mr(*args).returncode, args
        # a member each, of the same image and command: the YAML's shape
        pause = "localhost/podman-pause:" + _podman(d, "version", "--format",
                                                    "{{.Client.Version}}").stdout.strip() + "-0"
        flags = ("--pod", "same", "--name", "same-app", "-e", "K=v", "-w", "/tmp",
                 "-v", "/tmp:/hosttmp:ro", "-v", "same-vol:/nv", "--memory", "64m",
                 "--cpus", "0.5")
        _podman(d, "create", *flags, pause, "/catatonit", "-P")
        mr("create", *flags, img, "sleep", "1000", check=True)
        import yaml
        ya = yaml.safe_load(_podman(d, "kube", "generate", "same").stdout)
        yb = yaml.safe_load(mr("kube", "generate", "same", check=True).stdout)
        for key in ("apiVersion", "kind"):
            assert ya[key] == yb[key]
        assert ya["metadata"]["name"] == yb["metadata"]["name"] and \
            ya["metadata"]["labels"] == yb["metadata"]["labels"] == {"app": "same"}
        for key in ("hostname", "restartPolicy", "volumes", "enableServiceLinks",
                    "automountServiceAccountToken"):
            assert ya["spec"][key] == yb["spec"][key], key
        ca, cb = ya["spec"]["containers"][0], yb["spec"]["containers"][0]
        for key in ("workingDir", "ports", "resources", "volumeMounts"):
            assert ca[key] == cb[key], key
        assert ca["env"] == cb["env"] == [{"name": "K", "value": "v"}]
        # podman keeps the pod's name in the container's (and kube play adds it
        # again: same-same-app); minirun takes it off, so play gives back same-app
        assert (ca["name"], cb["name"]) == ("same-app", "app")

        # the verbs on a pod that is made but not started, then started: the same
        # codes (podman's pod kill and pod top of nothing running: 0, and no output;
        # pod rm without -f of a pod whose infra alone runs: 0, it is stopped first)
        assert _podman(d, "rm", "same-app").returncode == mr("rm", "same-app").returncode == 0
        for args in (("pod", "inspect", "same", "same"), ("pod", "kill", "same"),
                     ("pod", "top", "same"), ("pod", "start", "same"), ("pod", "rm", "same")):
            a, b = _podman(d, *args), mr(*args)
            assert a.returncode == b.returncode, (args, a.stderr, b.stderr)
            if args[1] == "top":
                assert a.stdout == b.stdout == "", args
            if args[1] == "kill":          # the pod's id, whether or not it killed anything
                assert len(a.stdout) == len(b.stdout) == 65, args
            if args[1] == "inspect":       # several pods: a list (one: an object)
                assert isinstance(json.loads(a.stdout), list) and \
                    isinstance(json.loads(b.stdout), list)
        assert _podman(d, "pod", "rm", "same").returncode == mr("pod", "rm", "same").returncode

        # kube play and down of the same two-container Pod: the same lines, the
        # same names
        path = os.path.join(d, "two.yaml")
        for tool, image, command in (("podman", pause, "['/catatonit', '-P']"),
                                     ("minirun", img, "[sleep, '100']")):
            with open(path, "w") as f:
                f.write("apiVersion: v1\nkind: Pod\nmetadata: {name: kp}\nspec:\n  containers:\n"
                        + "".join(f"  - {{name: {n}, image: '{image}', command: {command}}}\n"
                                  for n in "ab"))
            os.chmod(d, 0o755)
            os.chmod(path, 0o644)
            run = (lambda *a: _podman(d, *a)) if tool == "podman" else mr
            played = run("kube", "play", path)
            assert played.returncode == 0, (tool, played.stderr)
            lines = played.stdout.split("\n")
            assert [lines[0], lines[2], lines[5:]] == ["Pod:", "Containers:", ["", ""]], tool
            names = sorted(n for n in run("ps", "-a", "--format", "{{.Names}}").stdout.split()
                           if n.startswith("kp-"))
            assert names == ["kp-a", "kp-b"], tool
            down = run("kube", "down", path).stdout
            assert down == f"Pods stopped:\n{lines[1]}\nPods removed:\n{lines[1]}\n", tool
    finally:
        _podman(d, "pod", "rm", "-fa")
        _podman(d, "rmi", "-fa")
        _podman(d, "volume", "rm", "-fa")
        subprocess.run(["rm", "-rf", d])
