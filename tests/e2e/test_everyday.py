"""A podman user's everyday verbs and their exit codes, as root and
rootless: `exists` for containers, images, volumes and networks (0 or 1);
`rename`; the rm verbs going on past a name that fails, with podman's
codes (1: no such thing, 2: in use or running)."""
import json
import subprocess
import os
import signal
import time

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
    # -f (and rm -i): a name that is not there is passed over in silence, as
    # podman does, so that a clean-up runs twice; the others still go (podman
    # 4.3 removes none of them then, silently: its bug)
    r = mr("rm", "-f", "nosuch", "busy")
    assert (r.returncode, r.stdout, r.stderr) == (0, "busy\n", ""), r
    for verb in (["rm", "-i"], ["pod", "rm", "-f"], ["rmi", "-f"], ["volume", "rm", "-f"],
                 ["network", "rm", "-f"]):
        r = mr(*verb, "nosuch")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), (verb, r)
    mr("volume", "create", "v1", check=True)
    r = mr("volume", "rm", "v1", "novol")
    assert r.returncode == 1 and r.stdout.split() == ["v1"], r
    assert mr("network", "rm", "nonet").returncode == 1
    r = mr("rmi", "localhost/nothing:1")
    assert r.returncode == 1 and "not in the store" in r.stderr, r


def test_pause_and_unpause(mr, img):
    """Paused, a container's processes stop (a counter does not move) and
    ps and inspect say so; exec is refused (255); unpause lets it go on;
    stop and rm -f of a paused container work.  A plain user has no cgroup
    here to freeze: one line says so."""
    mr("run", "-d", "--name", "counter", *NONE, img, "sh", "-c",
       "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done", check=True)
    [info] = json.loads(mr("inspect", "counter", check=True).stdout)
    deadline = time.monotonic() + 20
    while not os.path.exists(f"/proc/{info['State']['Pid']}/root/tmp/n"):
        assert time.monotonic() < deadline, "the counter never started"
        time.sleep(0.02)
    r = mr("pause", "counter")
    if mr.rt.rootless and r.returncode != 0:
        assert r.returncode == 125 and "cannot be paused" in r.stderr, r
        assert r.stderr.count("\n") == 1
        return
    assert r.returncode == 0 and r.stdout == "counter\n", r
    [info] = json.loads(mr("inspect", "counter", check=True).stdout)
    assert info["State"]["Status"] == "paused" and info["State"]["Paused"] is True
    assert "Paused" in mr("ps", check=True).stdout
    before = _counter(info["State"]["Pid"])
    time.sleep(0.3)
    assert _counter(info["State"]["Pid"]) == before
    r = mr("exec", "counter", "true")
    assert r.returncode == 255 and "unpause it first" in r.stderr, r
    assert mr("pause", "counter").returncode == 125        # paused already
    mr("unpause", "counter", check=True)
    time.sleep(0.3)
    assert _counter(info["State"]["Pid"]) > before
    mr("pause", "counter", check=True)
    mr("stop", "-t", "1", "counter", check=True)
    [info] = json.loads(mr("inspect", "counter", check=True).stdout)
    assert info["State"]["Status"] == "exited", info["State"]


def _counter(pid: int) -> int:
    with open(f"/proc/{pid}/root/tmp/n") as f:
        return int(f.read() or 0)


def test_logs_since_and_until_in_podmans_time_forms(mr, img):
    mr("run", "-d", "--name", "talker", *NONE, img, "sh", "-c",
       "echo one; sleep 1.5; echo two; sleep 60", check=True)
    deadline = time.monotonic() + 20
    while "two" not in mr("logs", "talker").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert mr("logs", "--since", "1s", "talker").stdout == "two\n"
    assert mr("logs", "--until", "1s", "talker").stdout == "one\n"
    assert mr("logs", "--since", "2020-01-02T03:04:05Z", "talker").stdout == "one\ntwo\n"
    assert mr("logs", "--since", "2020-01-02", "--until", "1h0m0.5s",
              "talker").stdout == ""
    assert mr("logs", "--since", str(int(time.time()) + 60), "talker").stdout == ""
    r = mr("logs", "--since", "yesterday", "talker")
    assert r.returncode == 125 and "a duration" in r.stderr, r


def test_port_forms(mr, img):
    mr("run", "-d", "--name", "web", "-p", "18181:80", img, "sleep", "60", check=True)
    mr("run", "-d", "--name", "quiet", *NONE, img, "sleep", "60", check=True)
    assert mr("port", "web", check=True).stdout == "80/tcp -> 0.0.0.0:18181\n"
    assert mr("port", "web", "80", check=True).stdout == "0.0.0.0:18181\n"
    assert mr("port", "web", "80/tcp", check=True).stdout == "0.0.0.0:18181\n"
    r = mr("port", "web", "81")
    assert r.returncode == 125 and "81/tcp" in r.stderr, r
    cid = json.loads(mr("inspect", "web", check=True).stdout)[0]["Id"]
    assert mr("port", "--all", check=True).stdout == f"{cid[:12]}\n80/tcp -> 0.0.0.0:18181\n"
    assert mr("port").returncode == 125


def test_info_version_volume_and_network_templates(mr, img):
    """What scripts read from info, version, volume and network, through Go
    templates with podman's field names."""
    mr("volume", "create", "--label", "team=a", "vdata", check=True)
    mr("create", "--name", "user", "-v", "vdata:/data", img, "true", check=True)
    out = mr("info", "--format", "{{.Host.Arch}} {{.Host.OS}} {{.Host.Security.Rootless}} "
             "{{.Store.GraphRoot}} {{.Store.ContainerStore.Number}} "
             "{{.Store.ImageStore.Number}}", check=True).stdout.split()
    assert out[1:] == ["linux", str(mr.rt.rootless).lower(), mr.store, "1", "1"], out
    assert mr("version", "--format", "{{.Client.Os}}", check=True).stdout == "linux\n"
    assert mr("--version", check=True).stdout.startswith("minirun version ")
    assert mr("volume", "ls", "--format", "{{.Name}} {{.Labels.team}}",
              check=True).stdout == "vdata a\n"
    assert mr("volume", "ls", check=True).stdout == "DRIVER      VOLUME NAME\nlocal       vdata\n"
    assert mr("volume", "ls", "-q", "--filter", "dangling=true", check=True).stdout == ""
    assert mr("volume", "inspect", "-f", "{{.Driver}} {{.Scope}}", "vdata",
              check=True).stdout == "local local\n"
    net = mr("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{len .Subnets}}", "minirun")
    assert net.stdout == "minirun bridge 1\n", net
    header = mr("network", "ls", check=True).stdout.splitlines()[0]
    assert header.split() == ["NETWORK", "ID", "NAME", "DRIVER"], header
    r = mr("volume", "ls", "--format", "{{.Nope}}")
    assert r.returncode == 125 and "can't evaluate field Nope" in r.stderr, r


def test_diff_commit_and_history(mr, img):
    """A container's changes (a file added, one deleted, a directory emptied
    and made again, a file of another owner) listed by diff (not the
    runtime's mount points, /etc/hostname where the image has none: podman
    leaves them out too), committed as
    an image with --change, and seen in a container of that image as they
    were, owners included; history shows the commit's entry."""
    mr("run", "--name", "changed", *NONE, img, "sh", "-c",
       "echo hi > /hello; rm /etc/group; mkdir -p /opt/x; echo y > /opt/x/y; "
       "chown 1:1 /opt/x/y; rm -rf /home; mkdir /home; touch /home/new", check=True)
    lines = mr("diff", "changed", check=True).stdout.splitlines()
    for line in ("A /hello", "D /etc/group", "C /etc", "A /opt/x/y", "C /home", "A /home/new"):
        assert line in lines, lines
    assert "A /etc/hostname" not in lines, lines
    image_id = mr("commit", "-c", 'CMD ["cat", "/hello"]', "-c", "ENV GREETING=hi",
                  "-c", "LABEL team=a", "-a", "me", "-m", "made here", "changed", "made:v1",
                  check=True).stdout.strip()
    assert len(image_id) == 64
    assert mr("run", "--rm", *NONE, "made:v1", check=True).stdout == "hi\n"
    r = mr("run", "--rm", *NONE, "made:v1", "sh", "-c",
           "test -e /etc/group || echo gone; echo $GREETING; stat -c '%u:%g' /opt/x/y; ls /home")
    assert r.stdout.split() == ["gone", "hi", "1:1", "new"], r
    info = mr("image", "inspect", "-f", "{{.Config.Labels.team}} {{.Author}} "
              "{{len .RootFS.Layers}}", "made:v1", check=True).stdout.split()
    assert info == ["a", "me", "2"], info
    top = mr("history", "--format", "{{.Comment}}", "made:v1", check=True).stdout
    assert top.splitlines()[0] == "made here", top
    r = mr("commit", "-c", "RUN echo no", "changed", "bad:v1")
    assert r.returncode == 125 and "cannot change a commit" in r.stderr, r
    assert mr("image", "exists", "bad:v1").returncode == 1


def test_commit_of_a_running_container(mr, img):
    mr("run", "-d", "--name", "live", *NONE, img, "sh", "-c",
       "echo now > /state; sleep 60", check=True)
    deadline = time.monotonic() + 20
    while "/state" not in mr("diff", "live").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    mr("commit", "live", "live:v1", check=True)
    assert mr("ps", "--format", "{{.Status}}", check=True).stdout.startswith("Up ")
    assert mr("run", "--rm", *NONE, "live:v1", "cat", "/state",
              check=True).stdout == "now\n"


def test_export(mr, img):
    """export: the image's files under the container's changes, deletions
    applied, owners kept; to a file or standard output, never a terminal."""
    import tarfile
    mr("run", "--name", "exported", *NONE, img, "sh", "-c",
       "echo hi > /hello; rm /etc/group; echo y > /owned; chown 1:1 /owned", check=True)
    path = os.path.join(mr.rt.scratch, "out.tar")
    mr("export", "-o", path, "exported", check=True)
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("hello").read() == b"hi\n"
    assert "bin/busybox" in members and "etc/group" not in members
    assert (members["owned"].uid, members["owned"].gid) == (1, 1)
    whole = subprocess.run(mr.argv("export", "exported"), capture_output=True, env=mr.env(),
                           timeout=120)
    assert whole.returncode == 0 and len(whole.stdout) > 1_000_000, whole.stderr


def test_system_df_prune_and_reset(mr, img):
    """df counts what the store holds; prune -f removes what nothing uses
    (not a running container, not a volume without --volumes); without -f
    it asks, and no is no; reset -f leaves an empty store."""
    mr("run", "-d", "--name", "up", *NONE, img, "sleep", "60", check=True)
    mr("run", "--name", "down", *NONE, "-v", "kept:/data", img, "true", check=True)
    mr("network", "create", "spare", check=True)
    df = {line.split("|")[0]: line.split("|")[1:] for line in mr(
        "system", "df", "--format", "{{.Type}}|{{.Total}}|{{.Active}}",
        check=True).stdout.splitlines()}
    assert df == {"Images": ["1", "1"], "Containers": ["2", "1"],
                  "Local Volumes": ["1", "1"]}, df      # in use by the stopped one
    r = mr("system", "prune", input="n\n")
    assert r.returncode == 0 and "Are you sure" in r.stdout, r
    assert mr("container", "exists", "down").returncode == 0          # no was no
    r = mr("system", "prune", "-f", check=True)
    assert "Deleted Containers" in r.stdout and "spare" in r.stdout, r.stdout
    assert mr("container", "exists", "down").returncode == 1
    assert mr("container", "exists", "up").returncode == 0
    assert mr("volume", "exists", "kept").returncode == 0
    mr("rm", "-f", "up", check=True)
    mr("system", "prune", "-f", "--volumes", "-a", check=True)
    assert mr("volume", "exists", "kept").returncode == 1
    assert mr("image", "exists", img).returncode == 1
    mr("pull", "-q", img, check=True)
    mr("run", "-d", "--name", "again", *NONE, img, "sleep", "60", check=True)
    mr("system", "reset", "-f", check=True)
    assert mr("ps", "-aq", check=True).stdout == "" and mr.images() == []


def test_restart_policies(mr, img):
    """The monitor starts a container again as its policy says: on-failure:2
    twice (then it stays exited with its code), always until stop (which
    it survives no more), never after a stop; the count in inspect and ps."""
    mr("run", "-d", "--name", "flaky", *NONE, "--restart", "on-failure:2", img, "sh", "-c",
       "echo ran; exit 3", check=True)
    mr("run", "-d", "--name", "loop", *NONE, "--restart", "always", img, "sh", "-c",
       "echo ran; sleep 0.2", check=True)
    deadline = time.monotonic() + 30
    while not (mr("logs", "flaky").stdout.count("ran") == 3 and _state(mr, "flaky") == "exited"
               and mr("logs", "loop").stdout.count("ran") >= 3):
        assert time.monotonic() < deadline, mr("logs", "flaky").stdout
        time.sleep(0.1)
    info = mr("inspect", "-f", "{{.RestartCount}} {{.State.ExitCode}} "
              "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
              "flaky", check=True).stdout.split()
    assert info == ["2", "3", "on-failure", "2"], info
    assert mr("ps", "-a", "--filter", "name=flaky", "--format", "{{.Restarts}}",
              check=True).stdout == "2\n"
    mr("stop", "-t", "1", "loop", check=True)
    count = mr("inspect", "-f", "{{.RestartCount}}", "loop", check=True).stdout
    time.sleep(1)
    assert _state(mr, "loop") == "exited"
    assert mr("inspect", "-f", "{{.RestartCount}}", "loop", check=True).stdout == count
    for bad, says in ((["--restart", "sometimes"], "use no, on-failure[:N]"),
                      (["--restart", "always", "--rm"], "cannot be combined")):
        r = mr("run", "-d", *bad, img, "true")
        assert r.returncode == 125 and says in r.stderr, r


def _state(mr, name: str) -> str:
    return mr("inspect", "-f", "{{.State.Status}}", name, check=True).stdout.strip()


def test_healthchecks(mr, img):
    """--health-cmd run by a checker beside the monitor: starting, then
    unhealthy after the retries, healthy once it passes; healthcheck run;
    ps and inspect say so; none (no checker) for a container without one."""
    mr("run", "-d", "--name", "checked", *NONE, "--health-cmd", "test -e /tmp/ok",
       "--health-interval", "0.3s", "--health-retries", "2", img, "sh", "-c",
       "sleep 1.5; touch /tmp/ok; sleep 60", check=True)
    seen = set()
    deadline = time.monotonic() + 30
    while "healthy" not in seen:
        assert time.monotonic() < deadline, seen
        seen.add(mr("inspect", "-f", "{{.State.Health.Status}}", "checked",
                    check=True).stdout.strip())
        time.sleep(0.1)
    assert {"starting", "unhealthy", "healthy"} <= seen, seen
    assert mr("ps", "--format", "{{.Status}}", check=True).stdout.rstrip().endswith(
        "(healthy)")
    assert mr("healthcheck", "run", "checked").returncode == 0
    mr("exec", "checked", "rm", "/tmp/ok", check=True)
    r = mr("healthcheck", "run", "checked")
    assert (r.returncode, r.stdout) == (1, "unhealthy\n"), r
    log = mr("inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}} {{end}}", "checked",
             check=True).stdout.split()
    assert log[-1] == "1" and len(log) <= 5, log
    mr("run", "-d", "--name", "plain", *NONE, img, "sleep", "60", check=True)
    r = mr("healthcheck", "run", "plain")
    assert r.returncode == 125 and "no defined healthcheck" in r.stderr, r
    r = mr("run", "-d", *NONE, "--health-cmd", "true", "--health-interval", "often", img, "true")
    assert r.returncode == 125 and "a duration" in r.stderr, r


def test_events(mr, img):
    """The store's events as podman prints them: a container's life, a
    volume's; filtered, in JSON and templates; following as they come."""
    mr("run", "--name", "ev", *NONE, img, "sh", "-c", "exit 4")
    mr("volume", "create", "evvol", check=True)
    mr("rm", "ev", check=True)
    lines = mr("events", "--stream=false", "--filter", "type=container", check=True).stdout
    statuses = [line.split()[5] for line in lines.splitlines()]
    assert statuses == ["create", "init", "start", "attach", "died", "cleanup", "remove"], lines
    assert "containerExitCode=4" in lines and "name=ev" in lines
    died = mr("events", "--stream=false", "--filter", "event=died", "--format",
              "{{.Name}} {{.Attributes.containerExitCode}}", check=True).stdout
    assert died == "ev 4\n", died
    [vol] = [json.loads(x) for x in mr("events", "--stream=false", "--format", "json",
                                       "--filter", "volume=evvol", check=True).stdout.split("\n")
             if x]
    assert (vol["Type"], vol["Status"], vol["Name"]) == ("volume", "create", "evvol"), vol
    follower = subprocess.Popen(mr.argv("events", "--filter", "type=volume", "--since", "0s"),
                                stdout=subprocess.PIPE, text=True, env=mr.env(),
                                start_new_session=True)
    try:
        time.sleep(0.5)
        mr("volume", "create", "later", check=True)
        line = follower.stdout.readline()
        assert line.split()[4:] == ["volume", "create", "later"], line
    finally:       # the group: as a plain user, runuser's minirun with it
        os.killpg(follower.pid, signal.SIGKILL)
        follower.wait()
    r = mr("events", "--stream=false", "--filter", "color=red")
    assert r.returncode == 125 and "use event=" in r.stderr, r


def test_secrets(mr, img):
    """A secret kept in the store, given as a file (its mode as asked) and
    as a variable; never shown by inspect or ls; removed with secret rm."""
    r = mr("secret", "create", "dbpass", "-", input="s3cret", check=True)
    sid = r.stdout.strip()
    assert "s3cret" not in mr("secret", "ls", check=True).stdout
    assert mr("secret", "inspect", "-f", "{{.Spec.Name}}", "dbpass",
              check=True).stdout == "dbpass\n"
    r = mr("run", "--name", "usesecret", *NONE, "--secret", "dbpass", "--secret",
           "dbpass,type=env,target=DB_PASS", "--secret", "dbpass,target=/etc/pw,mode=0400",
           img, "sh", "-c", "cat /run/secrets/dbpass; echo; echo $DB_PASS; stat -c %a /etc/pw")
    assert r.stdout.split() == ["s3cret", "s3cret", "400"], r
    assert "s3cret" not in mr("inspect", "usesecret", check=True).stdout
    r = mr("secret", "create", "dbpass", "-", input="again")
    assert r.returncode == 125 and "exists already" in r.stderr, r
    assert mr("secret", "rm", "dbpass", check=True).stdout.strip() == sid
    r = mr("run", "--rm", *NONE, "--secret", "dbpass", img, "true")
    assert r.returncode == 125 and "no secret `dbpass`" in r.stderr, r
    if mr.rt.rootless:
        mr("secret", "create", "other", "-", input="x", check=True)
        r = mr("run", "--rm", *NONE, "--secret", "other,uid=1", img, "true")
        assert r.returncode == 125 and "other owners need root" in r.stderr, r


def test_podmans_small_ways(mr, img):
    """untag and images --filter; --cap-drop all --cap-add keeps the added
    one; podman's ping_group_range; an exposed port is
    listed unbound; volume rm -f takes its containers with it."""
    mr("tag", img, "extra:v1", check=True)
    listed = mr("images", "--filter", "reference=extra", "--format",
                "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert "localhost/extra:v1" in listed and len(listed) == 2, listed     # its every name
    assert mr("images", "--filter", "reference=nothing*", "-q", check=True).stdout == ""
    mr("untag", img, "extra:v1", check=True)
    assert mr("image", "exists", "extra:v1").returncode == 1
    assert mr("image", "exists", img).returncode == 0
    r = mr("run", "--rm", *NONE, "--cap-drop", "all", "--cap-add", "NET_ADMIN", img, "grep",
           "CapEff", "/proc/self/status", check=True)
    assert r.stdout.split()[1] == "0000000000001000", r.stdout      # CAP_NET_ADMIN alone
    r = mr("run", "--rm", img, "cat", "/proc/sys/net/ipv4/ping_group_range", check=True)
    assert r.stdout.split() == ["0", "0"], r.stdout                  # podman's default
    mr("create", "--name", "exposing", "--expose", "8080", img, "true", check=True)
    ports = mr("inspect", "-f", "{{json .NetworkSettings.Ports}}", "exposing", check=True)
    assert ports.stdout == '{"8080/tcp":null}\n', ports.stdout
    mr("create", "--name", "holder", "-v", "held:/data", img, "true", check=True)
    mr("volume", "rm", "-f", "held", check=True)
    assert mr("container", "exists", "holder").returncode == 1


def test_cp_with_tar_streams(mr, img):
    """cp NAME:PATH - writes a tar stream; cp - NAME:DIR unpacks one there;
    a stream that is not a tar, or leaves its directory, is refused."""
    import io
    import tarfile
    mr("run", "-d", "--name", "files", *NONE, img, "sh", "-c",
       "echo hello > /tmp/f; sleep 60", check=True)
    deadline = time.monotonic() + 20
    while mr("exec", "files", "test", "-e", "/tmp/f").returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    out = subprocess.run(mr.argv("cp", "files:/tmp/f", "-"), capture_output=True,
                         env=mr.env(), timeout=60)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        assert tar.extractfile("f").read() == b"hello\n"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("g")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"new\n"))
    r = subprocess.run(mr.argv("cp", "-", "files:/tmp"), input=data.getvalue(),
                       capture_output=True, env=mr.env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert mr("exec", "files", "cat", "/tmp/g", check=True).stdout == "new\n"
    r = mr("cp", "-", "files:/tmp", input="junk")
    assert r.returncode == 125 and "not a tar archive" in r.stderr, r
