"""minirun.Pool on real containers, as root and rootless: a job's output and
exit code; concurrent use from threads, never two jobs in one container;
nothing of one job reaching the next; the pool's containers in `ps`, `rm`
and close(); bad options as one minirun error with nothing made; a GPU of
its own for each container (on the fake driver root)."""
import pytest

from tests.gpu.conftest import fake_driver  # noqa: F401 (the fake driver root's fixture)


def test_output_exit_codes_env_and_timeout(api):
    out = api.json("""
        from minirun.pool import Pool
        from minirun.api import JobTimeout
        with Pool(IMAGE, size=2, root=STORE, network="none", env={"A": "1"}) as pool:
            a = pool.run(["sh", "-c", "echo hi $A $B; echo oops >&2; exit 3"], env={"B": "2"})
            b = pool.run(["sh", "-c", "pwd; kill -9 $$"], workdir="/tmp")
            c = pool.run(["true"])
            try:
                pool.run(["sleep", "30"], timeout=0.5)
                late = "not raised"
            except JobTimeout as e:
                late = str(e)
        print(json.dumps([a.exit_code, a.stdout, a.stderr, b.exit_code, b.stdout,
                          c.exit_code, c.duration < 5, late, minirun.containers(root=STORE)]))
    """)
    assert out[:7] == [3, "hi 1 2\n", "oops\n", 137, "/tmp\n", 0, True], out
    assert "ran past 0.5 s" in out[7], out
    assert out[8] == [], out


def test_a_jobs_cost_is_its_containers(api):
    out = api.json("""
        from minirun.pool import Pool
        with Pool(IMAGE, size=1, root=STORE, network="none") as pool:
            r = pool.run(["sh", "-c", "x=$(head -c 50000000 /dev/zero | tr '\\\\0' a)"])
        print(json.dumps(r._asdict()))
    """)
    assert out["exit_code"] == 0, out
    if api.mr.rt.rootless:
        assert out["peak_memory"] is None and out["cpu_seconds"] is None, out
    else:
        assert out["peak_memory"] >= 50_000_000 and out["cpu_seconds"] > 0, out


def test_eight_threads_never_share_a_container(api):
    """Each job prints its container's hostname (its id) and the thread's
    number: 16 jobs, 16 containers, each job its own output."""
    out = api.json("""
        import threading
        from minirun.pool import Pool
        got, errors = [], []
        with Pool(IMAGE, size=3, root=STORE, network="none") as pool:
            def worker(n):
                try:
                    for i in range(2):
                        r = pool.run(["sh", "-c", f"echo {n}-{i} $(hostname); exit {n}"])
                        got.append([n, i, r.exit_code, r.stdout])
                except Exception as e:
                    errors.append(repr(e))
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        print(json.dumps([got, errors, minirun.containers(root=STORE)]))
    """, timeout=300)
    got, errors, left = out
    assert errors == [] and len(got) == 16, out
    for n, i, code, stdout in got:
        assert code == n and stdout.startswith(f"{n}-{i} "), got
    assert len({stdout.split()[1] for *_, stdout in got}) == 16, got
    assert left == []


def test_nothing_of_a_job_reaches_the_next(api):
    """One job writes files, leaves a process, changes the hostname and a
    namespaced sysctl (privileged, so that it may); the next job, in the
    same pool, sees none of it."""
    out = api.json("""
        from minirun.pool import Pool
        # the processes running sleep (this busybox has no pgrep)
        SLEEPING = "$(grep -lx sleep /proc/[0-9]*/comm 2>/dev/null | wc -l)"
        with Pool(IMAGE, size=1, root=STORE, network="none", privileged=True) as pool:
            first = pool.run(["sh", "-c",
                "echo x > /tmp/mark && echo y > /etc/mark && "
                "(setsid sleep 300 </dev/null >/dev/null 2>&1 &) && "
                "while [ " + SLEEPING + " = 0 ]; do sleep 0.05; done && "      # it has exec'd
                "hostname changed && sysctl -w kernel.shmmni=1000 >/dev/null && "
                "echo $(hostname) $(sysctl -n kernel.shmmni) " + SLEEPING])
            second = pool.run(["sh", "-c",
                "ls /tmp/mark /etc/mark 2>&1; echo $(hostname) $(sysctl -n kernel.shmmni) "
                + SLEEPING])
        print(json.dumps([first.exit_code, first.stdout, first.stderr, second.stdout]))
    """)
    code, stdout, stderr, second = out
    assert code == 0 and stdout == "changed 1000 1\n", (stdout, stderr)
    lines = second.splitlines()
    assert "No such file" in lines[0] and "No such file" in lines[1], second
    hostname, shmmni, sleeping = lines[2].split()
    assert hostname != "changed" and shmmni != "1000" and sleeping == "0", second


def test_a_job_that_cannot_start_is_its_error_and_the_pool_goes_on(api):
    """The job's process was primed before the job was known: a missing
    program or working directory is still exec's own error (127, 126 as
    CommandNotFound and LaunchError), its container is thrown away, the next
    job runs, and a job's CPU time is its own (not the priming's)."""
    out = api.json("""
        from minirun.pool import Pool
        from minirun.errors import CommandNotFound, LaunchError
        said = []
        with Pool(IMAGE, size=1, root=STORE, network="none") as pool:
            for command, workdir in ((["no-such-program"], None), (["true"], "/no/such/dir")):
                try:
                    pool.run(command, workdir=workdir)
                    said.append("no error")
                except CommandNotFound as e:
                    said.append(["CommandNotFound", e.exit_code, str(e)])
                except LaunchError as e:
                    said.append(["LaunchError", str(e)])
            ok = pool.run(["sh", "-c", "echo fine"])
            burn = pool.run(["sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"])
            idle = pool.run(["sleep", "0.3"])
        print(json.dumps([said, ok.exit_code, ok.stdout, burn.cpu_seconds, idle.cpu_seconds,
                          minirun.containers(root=STORE)]))
    """)
    said, code, stdout, burn, idle, left = out
    assert said[0][:2] == ["CommandNotFound", 127] and "no-such-program" in said[0][2], said
    assert said[1][0] == "LaunchError" and "/no/such/dir" in said[1][1], said
    assert code == 0 and stdout == "fine\n" and left == [], out
    if not api.mr.rt.rootless:          # rootless: no cgroup of its own here
        # the priming's ~7 ms of CPU (measured here) is not the idle job's
        assert burn > 0.05 and idle < 0.005, out


def test_pooled_containers_in_ps_rm_and_close(api):
    """A pool's containers are the store's: listed (running, labelled with
    the owner's pid), one removed with `rm` is replaced and jobs go on;
    close() removes them all.  Its primed job process, our child, is reaped
    as it dies (else the container's pid 1 could not finish exiting, and
    `rm` would wait for it): gone once `rm` returns."""
    out = api.json("""
        import os, subprocess
        from minirun.api import _minirun
        from minirun.pool import Pool
        pool = Pool(IMAGE, size=2, root=STORE, network="none")
        listed = [(c["state"], c["options"]["labels"]["io.minirun.pool"] == str(os.getpid()),
                   c["options"]["owner"].split(":")[0] == str(os.getpid()))
                  for c in minirun.containers(root=STORE)]
        primed = pool.ready[0].launch.init_pid
        rm = subprocess.run([_minirun(), "--root", STORE, "rm", "-f", pool.ready[0].id],
                            capture_output=True, text=True)
        assert rm.returncode == 0, rm.stderr
        reaped = not os.path.exists(f"/proc/{primed}")
        codes = [pool.run(["true"]).exit_code for _ in range(3)]
        pool.close()
        pool.close()
        print(json.dumps([listed, codes, minirun.containers(root=STORE), reaped]))
    """)
    listed, codes, left, reaped = out
    assert reaped, "the primed process of the removed container was left a zombie"
    assert listed == [["running", True, True]] * 2, listed
    assert codes == [0, 0, 0] and left == [], out
    assert api.mr("ps", "-aq", check=True).stdout == ""


@pytest.mark.parametrize("options, says", [
    ("size=0", "Pool size 0"),
    ("size='2'", "Pool size '2'"),
    ("memmory='1g'", "unknown container option(s) memmory"),
    ("memory='lots'", "memory"),
    ("entrypoint='/bin/sh'", "entrypoint cannot be given"),
    ("gpus='all'", "gpus='all'"),
])
def test_a_bad_option_is_one_minirun_error_with_nothing_made(api, options, says):
    out = api.json(f"""
        from minirun.errors import MiniRunError
        from minirun.pool import Pool
        try:
            Pool(IMAGE, root=STORE, network="none", {options})
            said = "no error"
        except MiniRunError as e:
            said = str(e)
        print(json.dumps([said, minirun.containers(root=STORE)]))
    """)
    assert says in out[0] and out[1] == [], out


def test_a_missing_image_is_one_error_with_nothing_made(api):
    out = api.json("""
        from minirun.errors import MiniRunError
        from minirun.pool import Pool
        try:
            Pool("localhost/no-such-image:1", root=STORE, network="none", pull="never")
            said = "no error"
        except MiniRunError as e:
            said = type(e).__name__ + ": " + str(e)
        print(json.dumps([said, minirun.containers(root=STORE)]))
    """)
    assert "no-such-image" in out[0] and out[1] == [], out


def test_each_container_its_own_gpu(api, fake_driver):  # noqa: F811
    """Two GPUs on the fake driver root, a pool of two with gpus=1, four
    threads: each job sees one GPU node, and no two jobs hold the same one
    at once (each takes a directory named after its GPU in a shared volume:
    mkdir fails if another job holds it)."""
    out = api.json(f"""
        import os, threading
        os.environ["MINIRUN_DRIVER_ROOT"] = {fake_driver.root!r}
        os.environ["MINIRUN_CDI_DIRS"] = os.path.join(STORE, "no-cdi")
        locks = os.path.join(os.path.dirname(STORE), "gpu-locks")
        os.makedirs(locks)
        from minirun.pool import Pool
        seen, errors = [], []
        with Pool(IMAGE, size=2, root=STORE, network="none", gpus=1,
                  volumes={{locks: "/locks"}}) as pool:
            def worker():
                try:
                    for _ in range(2):
                        r = pool.run(["sh", "-c", "g=$(ls /dev | grep '^nvidia[0-9]'); "
                                      "echo $g; mkdir /locks/$g || echo CLASH; sleep 0.3; "
                                      "rmdir /locks/$g"])
                        seen.append(r.stdout.split())
                except Exception as e:
                    errors.append(repr(e))
            threads = [threading.Thread(target=worker) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        print(json.dumps([seen, errors, minirun.containers(root=STORE)]))
    """, timeout=300)
    seen, errors, left = out
    assert errors == [] and len(seen) == 8 and left == [], out
    assert all(len(gpus) == 1 for gpus in seen), seen
    assert {gpus[0] for gpus in seen} == {"nvidia0", "nvidia1"}, seen
