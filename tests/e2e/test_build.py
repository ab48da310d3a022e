"""minirun build, root and rootless: what a build makes runs, the cache
runs nothing twice, stages stay out of the final image, a built image
travels through a registry, and bad input stops the build with one line
and leaves nothing.  (Field-by-field agreement with buildah is
test_build_oracle.py's.)"""
import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import processes
from tests.e2e.conftest import Minirun

NONE = ["--network", "none"]


def _context(mr, files: dict) -> str:
    """A build context under the test's scratch (the test user's, rootless)."""
    d = os.path.join(mr.rt.scratch, f"ctx-{len(os.listdir(mr.rt.scratch))}")
    for name, text in files.items():
        path = os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    mr.rt.chown(d)
    return d


def _ids(mr, *flags) -> set[str]:
    return set(mr("images", "-q", "--no-trunc", *flags, check=True).stdout.split())


def _leftovers(mr) -> list[str]:
    return [n for n in os.listdir(mr.store) if n.startswith((".build-", ".commit-"))]


def test_a_build_runs_and_its_cache_runs_nothing_twice(mr, img):
    files = {"Containerfile": f"""
FROM {img}
ARG GREETING=hello
ENV APP=/opt/app
WORKDIR $APP
COPY greeting.txt ./
RUN echo RAN-$((40+2)) && echo "$GREETING from $(cat greeting.txt)" > out.txt
COPY late.txt /late.txt
CMD ["cat", "/opt/app/out.txt"]
""", "greeting.txt": "the context\n", "late.txt": "one\n"}
    ctx = _context(mr, files)
    first = mr("build", "-t", "built", "--build-arg", "GREETING=hi", ctx, check=True)
    assert "STEP 1/8: FROM" in first.stdout and "RAN-42" in first.stdout
    image_id = first.stdout.split()[-1]
    assert mr("run", "--rm", "built", check=True).stdout == "hi from the context\n"
    config = json.loads(mr("image", "inspect", "built", check=True).stdout)[0]["Config"]
    assert config["WorkingDir"] == "/opt/app" and "APP=/opt/app" in config["Env"]
    assert not any(e.startswith("GREETING=") for e in config["Env"])    # (an ARG is not kept)
    # the same context again: every step from the cache, the same image
    again = mr("build", "-t", "built", "--build-arg", "GREETING=hi", ctx, check=True)
    assert "RAN-42" not in again.stdout and again.stdout.count("Using cache") == 4
    assert again.stdout.split()[-1] == image_id
    # a file after the RUN changes: only its COPY is new
    with open(os.path.join(ctx, "late.txt"), "w") as f:
        f.write("two\n")
    late = mr("build", "-t", "built", "--build-arg", "GREETING=hi", ctx, check=True)
    assert "RAN-42" not in late.stdout and late.stdout.split()[-1] != image_id
    # the file the RUN reads changes: the RUN runs again
    with open(os.path.join(ctx, "greeting.txt"), "w") as f:
        f.write("a changed context\n")
    changed = mr("build", "-t", "built", "--build-arg", "GREETING=hi", ctx, check=True)
    assert "RAN-42" in changed.stdout
    assert mr("run", "--rm", "built", check=True).stdout == "hi from a changed context\n"
    # another build argument is another RUN; --no-cache runs it all
    assert "RAN-42" in mr("build", "--build-arg", "GREETING=yo", ctx, check=True).stdout
    assert "RAN-42" in mr("build", "--no-cache", "--build-arg", "GREETING=yo", ctx,
                            check=True).stdout
    # the steps' images are intermediate: listed with -a only, kept by image prune
    assert _ids(mr) < _ids(mr, "-a")
    mr("image", "prune", "-f", check=True)
    assert "RAN-42" not in mr("build", "--build-arg", "GREETING=hi", ctx, check=True).stdout
    assert mr("ps", "-aq", check=True).stdout == "" and _leftovers(mr) == []


def test_a_multi_stage_build_keeps_only_what_the_last_stage_copies(mr, img):
    ctx = _context(mr, {"Containerfile": f"""
FROM {img} AS build
RUN mkdir -p /out /junk && echo binary > /out/app && chmod 0750 /out/app && echo x > /junk/x
FROM {img}
COPY --from=build --chown=1000:1000 /out/app /usr/local/bin/app
USER 1000
ENTRYPOINT ["cat", "/usr/local/bin/app"]
"""})
    mr("build", "-t", "slim", ctx, check=True)
    assert mr("run", "--rm", "slim", check=True).stdout == "binary\n"
    seen = mr("run", "--rm", "--entrypoint", "sh", "slim", "-c",
              "ls -ln /usr/local/bin/app; id -u; ls /junk 2>&1 || true", check=True).stdout
    line = seen.splitlines()[0].split()
    assert line[0] == "-rwxr-x---" and line[2:4] == ["1000", "1000"], seen
    assert "1000" in seen.splitlines()[1] and "No such file" in seen
    # --target: the build stage itself
    mr("build", "-t", "fat", "--target", "build", ctx, check=True)
    assert mr("run", "--rm", "fat", "cat", "/junk/x", check=True).stdout == "x\n"


def test_a_built_image_goes_through_a_registry_to_another_store(mr, img, registry):
    ctx = _context(mr, {"Containerfile": f"FROM {img}\nRUN echo made here > /made\n"})
    mr("build", "-t", "travels", ctx, check=True)
    dest = f"{registry.addr}/test/travels:1"
    mr("push", "-q", "travels", dest, check=True)
    other = Minirun(mr.rt, mr.conf)
    other.store += "-other"
    try:
        assert other("run", "--rm", dest, "cat", "/made", check=True).stdout == "made here\n"
    finally:
        other("rmi", "-af")


@pytest.mark.parametrize("text,words", [
    ("RUN true\n", "only ARG may come before the first FROM"),
    ("ARG X=1\n", "no FROM"),
    ("FROM {img}\nFETCH x\n", "unknown instruction FETCH"),
    ("FROM {img}\nCOPY ../outside /x\n", "Containerfile:2: COPY ../outside /x:"),
    ("FROM {img}\nCOPY link/passwd /x\n", "Containerfile:2: COPY link/passwd /x:"),
    ("FROM {img}\nCOPY missing /x\n", "Containerfile:2: COPY missing /x:"),
    ("FROM {img}\nCOPY --chown=nobody-here f /x\n", "no 'nobody-here'"),
    ("FROM {img}\nCOPY --from=nostage /x /y\n", ""),
])
def test_bad_input_is_one_line_and_leaves_nothing(mr, img, text, words):
    ctx = _context(mr, {"Containerfile": text.format(img=img), "f": "f\n"})
    os.symlink("/etc", os.path.join(ctx, "link"))
    before = _ids(mr, "-a")
    r = mr("build", "-t", "never", ctx)
    assert r.returncode == 125, r
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert words in r.stderr
    assert _ids(mr, "-a") == before and mr("ps", "-aq", check=True).stdout == ""
    assert _leftovers(mr) == []


def test_a_failing_run_stops_the_build_with_its_code(mr, img):
    ctx = _context(mr, {"Containerfile": f"FROM {img}\nRUN echo start > /s\n"
                                         "RUN echo failing; exit 3\nRUN echo never\n"})
    r = mr("build", "-t", "never", ctx)
    assert r.returncode == 3, r
    assert "failing" in r.stdout and "never" not in r.stdout.replace("-t never", "")
    assert "Containerfile:3: RUN echo failing; exit 3: the command exited with 3" in r.stderr
    assert "never" not in mr("images", "--format", "{{.Repository}}", check=True).stdout
    assert mr("ps", "-aq", check=True).stdout == "" and _leftovers(mr) == []
    # -q: stdout is the image's id alone (ID=$(minirun build -q .)); what a
    # RUN writes to stderr still shows
    ctx = _context(mr, {"Containerfile": f"FROM {img}\nRUN echo to-out; echo to-err >&2\n"})
    r = mr("build", "-q", ctx, check=True)
    assert len(r.stdout.strip()) == 64 and "to-out" not in r.stdout and "to-err" in r.stderr, r


def test_a_containerfile_from_standard_input(mr, img):
    """-f - reads the Containerfile from standard input with a context's
    files; a context of - has no files; its errors name (stdin)."""
    ctx = _context(mr, {"data": "from the context\n"})
    r = mr("build", "-q", "-t", "withfiles", "-f", "-", ctx,
           input=f"FROM {img}\nCOPY data /data\nCMD [\"cat\", \"/data\"]\n")
    assert r.returncode == 0, r.stderr
    assert mr("run", "--rm", *NONE, "withfiles", check=True).stdout == "from the context\n"
    r = mr("build", "-q", "-t", "nofiles", "-", input=f"FROM {img}\nRUN echo made > /m\n")
    assert r.returncode == 0, r.stderr
    assert mr("run", "--rm", *NONE, "nofiles", "cat", "/m", check=True).stdout == "made\n"
    r = mr("build", "-", input=f"FROM {img}\nCOPY data /data\n")
    assert r.returncode == 125 and "(stdin):2: COPY" in r.stderr, r.stderr


def test_a_build_killed_in_a_run_leaves_no_container(mr, img):
    """SIGINT and SIGKILL of `minirun build` while a RUN runs: its
    container dies with it, and the next command removes what is left."""
    ctx = _context(mr, {"Containerfile": f"FROM {img}\nRUN echo started; sleep 300\n"})
    for sig in (signal.SIGINT, signal.SIGKILL):
        p = subprocess.Popen(mr.argv("build", ctx), stdout=subprocess.PIPE, text=True,
                             env=mr.env(), start_new_session=True)
        for line in p.stdout:
            if "started" in line:
                break
        os.killpg(p.pid, sig)       # (rootless, p is runuser: the group is the build too)
        p.wait(timeout=30)
        deadline = time.monotonic() + 20
        while processes(mr.rt.scratch, "sleep") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes(mr.rt.scratch, "sleep") == []
        assert mr("ps", "-aq", check=True).stdout == ""


def test_heredocs_squash_cache_mounts_onbuild_and_the_docker_format(mr, img):
    base = _context(mr, {"Containerfile": f"FROM {img}\nONBUILD RUN echo triggered > /onbuild\n"})
    mr("build", "-t", "parent", base, check=True)
    text = ("FROM parent\n"
            "COPY <<EOF /etc/motd\nhello from a heredoc\nEOF\n"
            "RUN <<EOF\necho one > /one\nrm /etc/group\nEOF\n"
            "RUN --mount=type=cache,target=/cache sh -c 'echo $(( $(cat /cache/n 2>/dev/null "
            "|| echo 0) + 1 )) > /cache/n; cp /cache/n /runs'\n"
            'SHELL ["/bin/sh", "-ec"]\n'
            "HEALTHCHECK --interval=5s --retries=2 CMD true\n")
    ctx = _context(mr, {"Containerfile": text})
    mr("build", "-t", "plain", ctx, check=True)
    seen = mr("run", "--rm", "plain", "sh", "-c", "cat /onbuild /etc/motd /one /runs; "
              "ls /etc/group 2>&1; ls /cache | wc -l", check=True).stdout.splitlines()
    assert seen[:4] == ["triggered", "hello from a heredoc", "one", "1"], seen
    assert "No such file" in seen[4] and seen[5] == "0"     # (the cache is not in the image)
    # --no-cache runs the RUN again: its cache mount remembers the first run
    mr("build", "--no-cache", "-t", "plain", ctx, check=True)
    assert mr("run", "--rm", "plain", "cat", "/runs", check=True).stdout == "2\n"
    # --squash: the layers this stage added as one, the same files
    mr("build", "--squash", "--format", "docker", "-t", "flat", ctx, check=True)
    layers = {name: len(json.loads(mr("image", "inspect", name, check=True).stdout)[0]
                        ["RootFS"]["Layers"]) for name in ("parent", "plain", "flat")}
    assert layers["flat"] == layers["parent"] + 1 < layers["plain"], layers
    assert mr("run", "--rm", "flat", "sh", "-c", "cat /one; ls /etc/group 2>&1; true",
              check=True).stdout.startswith("one\nls: /etc/group: No such file")
    # the docker format keeps HEALTHCHECK (OCI has no field for it: dropped, with a warning)
    checks = {name: json.loads(mr("image", "inspect", name, check=True).stdout)[0]
              ["Config"].get("Healthcheck") for name in ("plain", "flat")}
    assert checks["plain"] is None
    assert checks["flat"]["Test"] == ["CMD-SHELL", "true"] and checks["flat"]["Retries"] == 2
    assert mr("image", "build", "-q", ctx, check=True).stdout.strip()
