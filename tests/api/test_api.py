"""minirun's Python API on real containers, as root and rootless: a job's
output, exit code and cost; a container used through its methods; bad
options as one minirun error with nothing made."""


def test_a_job_output_exit_code_and_nothing_left(api):
    out = api.json("""
        r = minirun.run(IMAGE, ["sh", "-c", "echo hi; echo oops >&2; exit 3"], root=STORE,
                        network="none", env={"A": "1"})
        print(json.dumps([r.exit_code, r.stdout, r.stderr, minirun.containers(root=STORE)]))
    """)
    assert out == [3, "hi\n", "oops\n", []]


def test_run_timeout_a_missing_program_and_a_shell_pipeline(api):
    """minirun.run past its timeout: JobTimeout, the job killed and removed;
    a program that is not there: CommandNotFound (127); a job whose
    background child keeps its output open ends with the job."""
    out = api.json("""
        import time
        from minirun.api import JobTimeout
        from minirun.errors import CommandNotFound
        t = time.monotonic()
        try:
            minirun.run(IMAGE, ["sleep", "30"], root=STORE, network="none", timeout=0.3)
            late = "not raised"
        except JobTimeout as e:
            late = str(e)
        waited = time.monotonic() - t
        try:
            minirun.run(IMAGE, ["no-such-program"], root=STORE, network="none")
            missing = "not raised"
        except CommandNotFound as e:
            missing = [e.exit_code, str(e)]
        r = minirun.run(IMAGE, ["sh", "-c", "(sleep 30 &); echo done"], root=STORE,
                        network="none")
        print(json.dumps([late, waited, missing, r.exit_code, r.stdout,
                          minirun.containers(root=STORE)]))
    """)
    late, waited, missing, code, stdout, left = out
    assert "ran past 0.3 s" in late and waited < 10, out
    assert missing[0] == 127 and "no-such-program" in missing[1], out
    assert code == 0 and stdout == "done\n" and left == [], out


def test_a_jobs_cost(api):
    """100 MB allocated: a peak of at least that; half a second of CPU burnt:
    about that much CPU time.  A plain user without a cgroup of their own
    gets no figures (None), as inspect shows none."""
    out = api.json("""
        r = minirun.run(IMAGE, ["sh", "-c",
                                "x=$(head -c 100000000 /dev/zero | tr '\\\\0' a); "
                                "yes > /dev/null & sleep 0.5; kill $!"],
                        root=STORE, network="none")
        print(json.dumps(r._asdict()))
    """)
    assert out["exit_code"] == 0 and out["duration"] >= 0.5, out
    if api.mr.rt.rootless:
        assert out["peak_memory"] is None and out["cpu_seconds"] is None, out
    else:
        assert out["peak_memory"] >= 100_000_000, out
        assert 0.3 <= out["cpu_seconds"] <= 3.0, out


def test_oom_through_the_api(api):
    if api.mr.rt.rootless:
        import pytest
        pytest.skip("no cgroup is delegated to a plain user on this host: no memory limit")
    out = api.json("""
        r = minirun.run(IMAGE, ["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\\\0' a)"],
                        root=STORE, network="none", memory="32m", memory_swap="32m")
        print(json.dumps([r.exit_code, r.oom_killed]))
    """)
    assert out == [137, True]


def test_a_container_through_its_methods(api):
    import pathlib
    tmp_path = pathlib.Path(api.mr.rt.scratch) / "copies"      # the mode's user's
    tmp_path.mkdir()
    src = tmp_path / "in.txt"
    src.write_text("from the host\n")
    api.mr.rt.chown(str(tmp_path))
    out = api.json(f"""
        with minirun.Container(IMAGE, ["sh", "-c", "echo started; sleep 60"], root=STORE,
                               network="none", workdir="/tmp", labels={{"job": "x"}}) as c:
            c.copy_to({str(src)!r}, "/tmp/in.txt")
            e = c.exec(["sh", "-c", "cat /tmp/in.txt; pwd; echo $B"], env={{"B": "2"}})
            c.copy_from("/etc/hostname", {str(tmp_path / "hostname")!r})
            cid = c.id
            c.stop(timeout=1)
            code = c.wait(5)
            logs = c.logs()
        print(json.dumps([e.exit_code, e.stdout, code, logs[0], cid[:12],
                          [x["id"] for x in minirun.containers(root=STORE)]]))
    """)
    exit_code, stdout, code, logs, short, left = out
    assert exit_code == 0 and stdout == "from the host\n/tmp\n2\n", stdout
    assert code == 137 and logs == "started\n"
    assert (tmp_path / "hostname").read_text().strip() == short
    assert left == []


def test_bad_options_are_one_minirun_error_and_nothing_made(api):
    out = api.json("""
        from minirun.errors import MiniRunError
        said = []
        for options in ({"memmory": "1g"}, {"memory": "lots"}, {"ports": {80: None}},
                        {"volumes": {"rel": "dir"}}):
            try:
                minirun.run(IMAGE, ["true"], root=STORE, network="none", **options)
            except MiniRunError as e:
                said.append(str(e))
        try:
            minirun.run("localhost:1/nothing/here", ["true"], root=STORE, pull="never")
        except MiniRunError as e:
            said.append(type(e).__name__)
        try:
            minirun.run(IMAGE, "echo hi", root=STORE)
        except MiniRunError as e:
            said.append(str(e))
        with minirun.Pool(IMAGE, size=1, root=STORE, network="none") as pool:
            try:
                pool.run("echo hi")
            except MiniRunError as e:
                said.append(str(e))
        print(json.dumps([said, minirun.containers(root=STORE)]))
    """)
    said, left = out
    assert len(said) == 7 and left == [], said
    assert "Container: the command is a list of words" in said[5], said
    assert "Pool.run: the command is a list of words" in said[6], said
    assert "unknown container option(s) memmory" in said[0]
    assert "--memory lots" in said[1]
    assert "-p/-P" in said[2]
    assert said[4] == "ImageNotFound"


def test_waits_wake_on_the_event(api):
    """A log line, a port that accepts, an exit: each wait returns when it
    happens (a log line written after 0.5 s is seen well before a 1 s poll
    would), on the mode's default network for the port."""
    out = api.json("""
        import time
        with minirun.Container(IMAGE, ["sh", "-c", "sleep 0.5; echo ready now; "
                                       "nc -ll -p 8080 -e echo hello"],
                               root=STORE, ports={8080: None}) as c:
            t = time.monotonic()
            line = c.wait_for_log("ready")
            seen = time.monotonic() - t
            host, port = c.wait_for_port(8080)
            import socket
            with socket.create_connection((host, port)) as s:
                got = s.recv(100).decode()
            c.stop(timeout=0)
            code = c.wait(10)
        print(json.dumps([line, seen, got, code]))
    """)
    line, seen, got, code = out
    assert line == "ready now" and 0.45 <= seen < 0.9, out
    assert got == "hello\n" and code == 137, out


def test_a_wait_for_a_file_wakes_when_it_is_made(api):
    """wait_for_file: a file made 0.5 s in, two directories down from one
    that exists, is seen then (inotify through /proc/PID/root, not a poll);
    one never made ends in JobTimeout; a container that ends first, in
    ContainerError."""
    out = api.json("""
        import time
        from minirun.api import JobTimeout
        from minirun.engine.containers.records import ContainerError
        with minirun.Container(IMAGE, ["sh", "-c", "sleep 0.5; mkdir -p /tmp/a/b; "
                                       "touch /tmp/a/b/ready; sleep 30"],
                               root=STORE, network="none") as c:
            t = time.monotonic()
            c.wait_for_file("/tmp/a/b/ready")
            seen = time.monotonic() - t
            try:
                c.wait_for_file("/never", timeout=0.3)
                never = "not raised"
            except JobTimeout as e:
                never = str(e)
        with minirun.Container(IMAGE, ["sh", "-c", "sleep 0.3"], root=STORE,
                               network="none") as c:
            try:
                c.wait_for_file("/never", timeout=20)
                ended = "not raised"
            except ContainerError as e:
                ended = str(e)
        print(json.dumps([seen, never, ended]))
    """)
    seen, never, ended = out
    assert 0.45 <= seen < 0.9, out
    assert "/never did not appear" in never and "ended before /never" in ended, out


def test_images_through_the_api(api):
    out = api.json("""
        image_id = minirun.Image.pull(IMAGE, root=STORE)
        names = [n for i in minirun.images(root=STORE) for n in i["Names"]]
        print(json.dumps([image_id, names]))
    """)
    image_id, names = out
    assert image_id.startswith("sha256:") and api.image in names, out
