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
        profile = json.load(f)
    arch = _ARCH.get(os.uname().machine, "")
    arches = [arch]
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == arch:
            arches += entry.get("subArchitectures") or []
    rules = []
    for rule in profile.get("syscalls", []):
        if not _applies(rule, set(caps), arch):
            continue
        out = {"names": rule["names"], "action": rule["action"]}
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
