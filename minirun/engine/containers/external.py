"""`--runtime`: handing a container's bundle to another OCI runtime (runc, crun).

minirun's own runtime runs in-process; any other is driven through the
command line every OCI runtime shares, as podman's conmon drives it:

    mount the overlay rootfs (minirun's runtime does that itself, inside
    the container's mount namespace; another runtime expects it mounted)
    -> RUNTIME create --bundle DIR [--console-socket S] ID   (stdio: ours)
    -> RUNTIME start ID -> wait for the container's pid 1 as its subreaper
    -> RUNTIME delete --force ID -> unmount the rootfs

Root only: a plain user's overlay is mounted inside minirun's user
namespace, where another runtime, started outside it, cannot see it.
Its state lives beside minirun's: <runtime root>/engine-<name>.
"""
import json
import os

from minirun.errors import MiniRunError

OVERLAY = "org.minirun.rootfs.overlay"


def resolve(name: str) -> str:
    """The runtime's absolute path, or an error that says what to do."""
    import shutil
    path = shutil.which(name) if "/" not in name else os.path.abspath(name)
    if not path or not os.access(path, os.X_OK):
        raise MiniRunError(f"--runtime {name}: no such runtime (install it, e.g. "
                           "apt-get install runc, or give its path)")
    if os.geteuid() != 0:
        raise MiniRunError(f"--runtime {name}: needs root. A plain user's overlay rootfs is "
                           "mounted inside minirun's user namespace, which another runtime, "
                           "started outside it, cannot see; run as root, or leave --runtime "
                           "out (minirun's own runtime works rootless)")
    return path


class Runtime:
    """One external OCI runtime, driven through its command line."""

    def __init__(self, path: str):
        from minirun.runtime.state import default_root
        self.path = path
        self.root = os.path.join(default_root(), "engine-" + os.path.basename(path))
        self.log = os.path.join(self.root, "runtime.log")

    def _run(self, *args: str, **kw):
        import subprocess
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        return subprocess.run([self.path, "--root", self.root, "--log", self.log,
                               "--log-format", "json", *args], **kw)

    def _error(self, verb: str, r) -> MiniRunError:
        """The runtime's own words, from its JSON log, with podman's exit codes
        for a command that cannot be run (126) or found (127)."""
        message = (r.stderr or b"").decode(errors="replace").strip()
        try:
            with open(self.log) as f:
                for line in f.readlines()[-20:]:
                    entry = json.loads(line)
                    if entry.get("level") == "error":
                        message = entry.get("msg", message)
        except (OSError, ValueError):
            pass
        err = MiniRunError(f"{os.path.basename(self.path)} {verb}: {message or 'failed'}")
        lowered = message.lower()
        if "no such file" in lowered or "not found" in lowered:
            err.exit_code = 127
        elif "permission denied" in lowered:
            err.exit_code = 126
        return err

    def create(self, cid: str, bundle: str, console_socket: str | None = None) -> int:
        """Mount the rootfs, create the container (stdio: ours); its pid."""
        with open(os.path.join(bundle, "config.json")) as f:
            config = json.load(f)
        overlay = (config.get("annotations") or {}).get(OVERLAY)
        rootfs = config["root"]["path"]
        if overlay and not os.path.ismount(rootfs):
            from minirun.kernel import mounts
            mounts.mount("overlay", rootfs, "overlay", 0, overlay)
        pid_file = os.path.join(bundle, "runtime.pid")
        args = ["create", "--bundle", bundle, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        # Its stdio is the container's: the runtime's own words come from its log.
        r = self._run(*args, cid)
        if r.returncode != 0:
            self.delete(cid, bundle)
            raise self._error("create", r)
        with open(pid_file) as f:
            return int(f.read())

    def start(self, cid: str) -> None:
        r = self._run("start", cid, capture_output=True)
        if r.returncode != 0:
            raise self._error("start", r)

    def freeze(self, cid: str, on: bool) -> None:
        verb = "pause" if on else "resume"
        r = self._run(verb, cid, capture_output=True)
        if r.returncode != 0:
            raise self._error(verb, r)

    def kill(self, cid: str, sig: int, all_processes: bool = False) -> None:
        r = self._run("kill", *(["--all"] if all_processes else []), cid, str(sig),
                      capture_output=True)
        if r.returncode != 0:
            raise self._error("kill", r)

    def update(self, cid: str, resources: dict, directory: str) -> None:
        path = os.path.join(directory, f"resources-{os.getpid()}.json")
        with open(path, "w") as f:
            json.dump(resources, f)
        try:
            r = self._run("update", "--resources", path, cid, capture_output=True)
        finally:
            os.unlink(path)
        if r.returncode != 0:
            raise self._error("update", r)

    def status(self, cid: str) -> str:
        r = self._run("state", cid, capture_output=True)
        if r.returncode != 0:
            return "stopped"
        return json.loads(r.stdout).get("status", "stopped")

    def delete(self, cid: str, bundle: str) -> None:
        """Delete the container (also a half-made one) and unmount its rootfs."""
        self._run("delete", "--force", cid, capture_output=True)
        rootfs = os.path.join(bundle, "rootfs")
        if os.path.ismount(rootfs):
            from minirun.kernel import mounts
            mounts.umount2(rootfs, mounts.MNT_DETACH)

    def exec(self, cid: str, process: dict, *, detach: bool, directory: str) -> int:
        """`RUNTIME exec --process FILE`: the process's exit code (0 once
        started, with detach)."""
        import subprocess
        path = os.path.join(directory, f"exec-{os.getpid()}.json")
        with open(path, "w") as f:
            json.dump(process, f)
        # In the foreground the runtime serves the terminal itself, on ours;
        # detached, it hands the master over, and we close it as podman does
        # for exec -dt.
        tty = bool(process.get("terminal"))
        console = ConsoleSocket() if tty and detach else None
        args = ["exec", "--process", path] + (["--detach"] if detach else []) + \
            (["--tty"] if tty else []) + (["--console-socket", console.path] if console else [])
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        try:
            p = subprocess.Popen([self.path, "--root", self.root, "--log", self.log,
                                  "--log-format", "json", *args, cid])
            master = console.receive_master(lambda: p.poll() is None) if console else -1
            if master >= 0:
                os.close(master)
            return p.wait()
        finally:
            os.unlink(path)
            if console:
                console.close()


class ConsoleSocket:
    """A --console-socket for another runtime: a listening unix socket at a
    short path; the runtime connects during create and sends the pty master."""

    def __init__(self):
        import socket
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="minirun-console-")
        self.path = os.path.join(self.dir, "sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)

    def close(self) -> None:
        self.listener.close()
        for remove, path in ((os.unlink, self.path), (os.rmdir, self.dir)):
            try:
                remove(path)
            except OSError:
                pass

    def receive_master(self, waiting=lambda: True) -> int:
        """The master, once the runtime sends it (-1 if ``waiting()`` turns
        false first: the runtime failed before it got that far)."""
        import select
        import socket
        try:
            while not select.select([self.listener], [], [], 0.1)[0]:
                if not waiting():
                    return -1
            conn, _ = self.listener.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        finally:
            self.close()
        if not fds:
            raise MiniRunError("the runtime sent no terminal on its console socket")
        return fds[0]


def for_record(rec: dict) -> Runtime | None:
    """The external runtime a container was created with, if any."""
    path = rec["options"].get("runtime")
    return Runtime(path) if path else None
