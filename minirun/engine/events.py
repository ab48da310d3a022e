"""The store's record of what happened, for `events`: one JSON line per
event in ``events.log`` at the store's root, appended (O_APPEND: lines from
commands running at once do not mix), in podman's shape (ID, Image, Name,
Status, Time, Type, Attributes).  Writing one never fails a command: an
event that cannot be written (a full disk) is lost, the work is not.

Types and statuses written: container create, start, stop, kill, died,
pause, unpause, remove, commit; image pull, load, import, tag, untag,
remove; volume create, remove; network create, remove.
"""
import json
import os
import time

LOG = "events.log"


def emit(root: str, kind: str, status: str, id: str = "", name: str = "", image: str = "",
         **attributes) -> None:
    """Append one event to the store at ``root``."""
    from minirun.engine.store import now
    line = json.dumps({"ID": id, "Image": image, "Name": name, "Status": status,
                       "Time": now(), "Type": kind,
                       "Attributes": {k: str(v) for k, v in attributes.items()}},
                      separators=(",", ":")) + "\n"
    try:
        fd = os.open(os.path.join(root, LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                     os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def read(root: str, follow: bool = False, until: str | None = None, stop=lambda: False):
    """The events so far (and, following, as they come, until ``until``
    passes or ``stop()`` says so), each a dict."""
    path = os.path.join(root, LOG)
    while not os.path.exists(path):
        if not follow or stop():
            return
        time.sleep(0.1)
    with open(path, "rb") as f:
        while True:
            line = f.readline()
            if line.endswith(b"\n"):
                try:
                    yield json.loads(line)
                except ValueError:
                    pass
                continue
            from minirun.engine.store import now
            if not follow or stop() or (until and now() > until):
                return
            f.seek(f.tell() - len(line))
            time.sleep(0.1)
