"""A recording kernel seam: the launch steps run against it without
privileges, and the test reads back the calls they made, in order."""
import os
from types import SimpleNamespace

from minirun import kernel

# Functions that compute rather than act: the real ones are used.
PURE = {"parse_options", "fd_path", "flag_names", "to_mask", "clamp", "hierarchies",
        "is_unified", "BY_TYPE", "JOIN_ORDER"}


class Recorder:
    def __init__(self):
        self.calls = []

    def seam(self) -> SimpleNamespace:
        real = kernel.linux()
        return SimpleNamespace(**{name: self._module(name, mod)
                                  for name, mod in vars(real).items()})

    def _module(self, name, mod):
        rec = self

        class Module:
            def __getattr__(self, attr):
                value = getattr(mod, attr)
                if not callable(value) or isinstance(value, type) or attr in PURE:
                    return value

                def call(*args, **kw):
                    rec.calls.append((f"{name}.{attr}", args, kw))
                    if attr in ("open_in_root", "make_target"):
                        return os.open("/", os.O_PATH | os.O_CLOEXEC)
                    if attr == "locked_flags":
                        return 0
                    return None
                return call
        return Module()

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def mounts(self) -> list[tuple]:
        """(target shown, fstype, flags) of each mount call."""
        out = []
        for name, args, kw in self.calls:
            if name == "mounts.mount":
                out.append((kw.get("shown") or args[1], args[2], args[3]))
        return out
