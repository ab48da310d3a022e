"""The default seccomp profile, as podman applies it.

containers-common ships it as /usr/share/containers/seccomp.json in moby's
format: rules carry ``includes``/``excludes`` conditions on capabilities and
architectures, and an ``archMap`` names the architectures.  This turns it
into the OCI ``linux.seccomp`` for one container: rules whose conditions
its capabilities and this machine's architecture meet.

See: containers-common seccomp.json; runtime-spec config-linux.md#seccomp
"""
import json
import os


PATHS = ("/usr/share/containers/seccomp.json", "/etc/containers/seccomp.json")
_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64",
         "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
         "riscv64": "SCMP_ARCH_RISCV64"}


def _kernel() -> tuple[int, ...]:
    return tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])


# Conditions may name architectures as Go does ("amd64") or as libseccomp does.
_GO = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "386": "SCMP_ARCH_X86",
       "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64"}


def _arches(names: list[str]) -> set[str]:
    return {_GO.get(a, a) for a in names}


def _applies(rule: dict, caps: set[str], arch: str) -> bool:
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("arches") and arch not in _arches(inc["arches"]):
        return False
    if inc.get("minKernel") and _kernel() < tuple(int(x) for x in inc["minKernel"].split(".")):
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    if exc.get("arches") and arch in _arches(exc["arches"]):
        return False
    return True


def default(caps: list[str]) -> dict | None:
    """linux.seccomp for a container with ``caps``; None if no profile exists."""
    path = next((p for p in PATHS if os.path.exists(p)), None)
    if path is None:
        return None
    with open(path) as f:
        return convert(json.load(f), caps)


def from_file(path: str, caps: list[str]) -> dict:
    """``--security-opt seccomp=PATH``: a profile in moby's format (as
    /usr/share/containers/seccomp.json) or an OCI ``linux.seccomp``."""
    from minirun.errors import MiniRunError
    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError as e:
        raise MiniRunError(f"seccomp profile {path}: {e.strerror}") from None
    except ValueError as e:
        raise MiniRunError(f"seccomp profile {path}: not JSON ({e})") from None
    if not isinstance(profile, dict) or not isinstance(profile.get("defaultAction"), str) \
            or not isinstance(profile.get("syscalls", []), list):
        raise MiniRunError(f"seccomp profile {path}: expected an object with defaultAction "
                           "and a syscalls list (moby's or the OCI format)")
    return convert(profile, caps)


def convert(profile: dict, caps: list[str]) -> dict:
    """The rules of a moby-format profile that apply to this container and
    machine, as OCI linux.seccomp (an OCI one passes through unchanged)."""
    arch = _ARCH.get(os.uname().machine, "")
    arches = list(profile.get("architectures") or [arch])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == arch:
            arches += entry.get("subArchitectures") or []
    rules = []
    for rule in profile.get("syscalls") or []:
        if not _applies(rule, set(caps), arch):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        out = {"names": names, "action": rule.get("action")}
        if rule.get("args"):
            out["args"] = rule["args"]
        if rule.get("errnoRet") is not None:
            out["errnoRet"] = rule["errnoRet"]
        rules.append(out)
    result = {"defaultAction": profile["defaultAction"], "architectures": arches,
              "syscalls": rules}
    if profile.get("defaultErrnoRet") is not None:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return result
