"""bpf: the cgroup v2 device filter, a small eBPF program per container.

cgroup v1 has a devices controller (devices.allow, devices.deny); cgroup v2
has none: a program of type BPF_PROG_TYPE_CGROUP_DEVICE, attached to the
container's group, is asked on every open and mknod of a device node and
answers 1 (allow) or 0 (deny).  Its context is

    struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; };

where access_type is (access << 16) | type: type 1 block, 2 char; access
1 mknod, 2 read, 4 write.  :func:`device_program` writes the program from
rules, :func:`attach_device_filter` loads and attaches it (root only:
loading needs CAP_BPF or CAP_SYS_ADMIN).

Why (``--explain`` prints the item under the call):

- device filter: cgroup v2 has no device list: a small program, attached to
  the container's group, answers every open and mknod of a device node, so
  that the container reaches only the devices the config allows (bpf(2))

See: bpf(2), the kernel's Documentation/bpf/prog_cgroup_device.rst (and
cgroup-v2.rst, "Device controller")
"""
import os
import struct

from minirun import explain
from minirun.kernel._native import check, ffi, lib

TYPES = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One eBPF instruction: opcode, registers, offset, immediate."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


LDX_W = 0x61        # dst = *(u32 *)(src + off)
AND_K = 0x57        # dst &= imm (64-bit)
RSH_K = 0x77        # dst >>= imm
MOV_K = 0xb7        # dst = imm
MOV_X = 0xbf        # dst = src
JNE_K = 0x55        # if dst != imm: pc += off
EXIT = 0x95


def effective(rules: list[dict]) -> tuple[bool, list[dict]]:
    """v1's semantics, as the devices controller would end up after each
    rule in turn: a default (allow or deny) and the exceptions to it.  A
    rule for every device ("a", no numbers) resets both."""
    default, exceptions = True, []
    for r in rules:
        if r.get("type", "a") == "a" and r.get("major") is None and r.get("minor") is None:
            default, exceptions = bool(r.get("allow")), []
        else:
            exceptions.append(r)
    return default, exceptions


def device_program(rules: list[dict]) -> bytes:
    """The filter for OCI device rules (linux.resources.devices): the last
    matching rule decides, else the default."""
    default, exceptions = effective(rules)
    prog = [_insn(LDX_W, 2, 1, 0), _insn(AND_K, 2, imm=0xFFFF),       # r2 = type
            _insn(LDX_W, 3, 1, 0), _insn(RSH_K, 3, imm=16),           # r3 = access
            _insn(LDX_W, 4, 1, 4), _insn(LDX_W, 5, 1, 8)]             # r4, r5 = major, minor
    for r in reversed(exceptions):            # later rules win: ask them first
        tests = []
        if r.get("type", "a") != "a":
            tests.append((2, TYPES[r["type"]]))
        access = sum(ACCESS[a] for a in set(r.get("access") or "rwm"))
        block = []
        if access != 7:       # every access asked for must be one the rule names
            block += [("mov",), ("and", ~access & 0xFFFF), ("jne", 6, 0)]
        block += [("jne", reg, value) for reg, value in tests]
        if r.get("major") is not None:
            block.append(("jne", 4, r["major"]))
        if r.get("minor") is not None:
            block.append(("jne", 5, r["minor"]))
        block += [("ret", 1 if r.get("allow") else 0)]
        size = sum(2 if op[0] == "ret" else 1 for op in block)
        pos = 0
        for op in block:
            pos += 2 if op[0] == "ret" else 1
            if op[0] == "mov":
                prog.append(_insn(MOV_X, 6, 3))
            elif op[0] == "and":
                prog.append(_insn(AND_K, 6, imm=op[1]))
            elif op[0] == "jne":
                prog.append(_insn(JNE_K, op[1], off=size - pos, imm=op[2]))
            else:
                prog += [_insn(MOV_K, 0, imm=op[1]), _insn(EXIT)]
    prog += [_insn(MOV_K, 0, imm=1 if default else 0), _insn(EXIT)]
    return b"".join(prog)


def attach_device_filter(cgroup_dir: str, rules: list[dict]) -> None:
    """Load the filter for ``rules`` and attach it to a cgroup v2 group."""
    program = device_program(rules)
    explain.say(f"bpf(BPF_PROG_LOAD, CGROUP_DEVICE, {len(program) // 8} instructions); "
                f"bpf(BPF_PROG_ATTACH, {cgroup_dir})", why="device filter")
    prog_fd = lib.mr_bpf_prog_load_device(program, len(program), ffi.NULL, 0)
    if prog_fd == -1:          # again, with the verifier's log, to say why
        err = ffi.errno
        log = ffi.new("char[]", 1 << 16)
        lib.mr_bpf_prog_load_device(program, len(program), log, 1 << 16)
        text = ffi.string(log).decode(errors="replace").strip().splitlines()
        raise OSError(err, f"bpf(BPF_PROG_LOAD): {os.strerror(err)}"
                      f"{': ' + text[-1] if text else ''}")
    try:
        fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            check(lib.mr_bpf_prog_attach_device(fd, prog_fd), "bpf(BPF_PROG_ATTACH)",
                  cgroup_dir)
        finally:
            os.close(fd)
    finally:
        os.close(prog_fd)     # the attachment holds the program now
