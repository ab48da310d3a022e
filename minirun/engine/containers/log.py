"""The container's log, as podman's k8s-file driver writes it: one record a
line, ``TIME STREAM F|P TEXT`` (F a full line, P a part of one).  The
monitor writes it; `logs` reads it (engine/containers/lifecycle.logs).
On a full disk the log gives way first: the store keeps the room it needs.
"""
import errno
import os

from minirun.engine.store import now


def say(text: str) -> None:
    """A line on our stderr (monitor.log, detached); on a full disk it may
    not be written either, which must not end the monitor."""
    try:
        os.write(2, f"minirun: {text}\n".encode())
    except OSError:
        pass


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


RESERVE = 1 << 20    # bytes the log leaves free: the store's database and records need them


class Log:
    """The container's log, k8s-file records.  On a full filesystem (or one
    nearly full: :data:`RESERVE` is left for the store), output is dropped,
    counted and said once on our stderr (monitor.log); when space returns,
    or at the end, a record in the log says how much is missing."""

    def __init__(self, path: str, echo: bool, keep: bool = True):
        """``keep``: False for --log-driver none (the output is only echoed)."""
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.path, self.echo, self.keep = path, echo, keep
        self.partial = {b"stdout": b"", b"stderr": b""}
        self.dropped = 0            # bytes of output not in the log since the last note

    def write(self, stream: bytes, data: bytes) -> None:
        if self.echo:
            os.write(1 if stream == b"stdout" else 2, data)
        if not self.keep:
            return
        data = self.partial[stream] + data
        *lines, rest = data.split(b"\n")
        out = [now().encode() + b" " + stream + b" F " + line + b"\n" for line in lines]
        if len(rest) > 8192:   # a long line without a newline: write it as partial
            out.append(now().encode() + b" " + stream + b" P " + rest + b"\n")
            rest = b""
        self.partial[stream] = rest
        if out:
            self._append(b"".join(out))

    def _append(self, records: bytes) -> None:
        if self._room(len(records)) and (not self.dropped or self._note()):
            if self._write(records):
                return
        if not self.dropped:
            say(f"{self.path}: the filesystem is full: the container's output is dropped "
                 "until there is space again")
        self.dropped += len(records)

    def _room(self, size: int) -> bool:
        try:
            st = os.fstatvfs(self.fd)
        except OSError:
            return True
        return st.f_bavail * st.f_frsize >= size + RESERVE

    def _write(self, data: bytes) -> bool:
        """Append whole records or nothing (a short write is cut off again:
        truncating needs no space); False when there is no room."""
        end = os.lseek(self.fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as e:
            if e.errno not in FULL:
                raise
            os.ftruncate(self.fd, end)
            return False
        return True

    def _note(self) -> bool:
        """A record saying how much output is missing (written in the reserve)."""
        text = f"[minirun: {self.dropped} bytes of output were dropped here: the " \
               "filesystem of the log was full]"
        if not self._write(now().encode() + b" stderr F " + text.encode() + b"\n"):
            return False
        say(f"{self.path}: {self.dropped} bytes of output dropped")
        self.dropped = 0
        return True

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._append(now().encode() + b" " + stream + b" P " + rest + b"\n")
        if self.dropped:
            self._note()
        os.close(self.fd)


def parse(line: bytes) -> tuple[bytes, bytes, bytes] | None:
    """One record of the log: (time stamp, stream, text with its newline if
    the record is a full line), or None for a line that is not one."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 4:
        return None
    stamp, stream, flag, text = parts
    return stamp, stream, text + (b"\n" if flag == b"F" else b"")
