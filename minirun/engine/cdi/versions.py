"""Which cdiVersion a spec declares, and which it needs.

minirun reads cdiVersion 0.3.0 to 1.1.0 (a leading ``v`` allowed, as the
reference library allows it).  Each version after 0.3.0 that added a field
is listed in ``FEATURES`` with a test that finds the first use of it; a spec
that uses a field newer than the version it declares is refused, naming the
field, the version it needs and (through spec.py) the file.  0.8.0 and
1.0.0 changed the reference library, not the format: no field needs them.

See: specs-go/version.go in the reference library.
"""
KNOWN = ("0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0")


def _edits(spec):
    """(where, edits) of the spec and of each of its devices."""
    yield "containerEdits", spec.edits
    for i, d in enumerate(spec.devices):
        yield f"devices[{i}].containerEdits", d.edits


def _mount_type(spec):
    for where, e in _edits(spec):
        for i, m in enumerate(e.mounts):
            if m.type:
                return f"{where}.mounts[{i}].type"


def _host_path_or_digit(spec):
    for i, d in enumerate(spec.devices):
        if d.name[:1].isdigit():
            return f"devices[{i}].name (starting with a digit)"
    for where, e in _edits(spec):
        for i, n in enumerate(e.device_nodes):
            if n.host_path:
                return f"{where}.deviceNodes[{i}].hostPath"


def _annotations_or_dotted_class(spec):
    if spec.annotations:
        return "annotations"
    for i, d in enumerate(spec.devices):
        if d.annotations:
            return f"devices[{i}].annotations"
    if "." in spec.cls:
        return "kind (a '.' in the class)"


def _rdt_or_gids(spec):
    for where, e in _edits(spec):
        if e.intel_rdt is not None:
            return f"{where}.intelRdt"
        if e.additional_gids:
            return f"{where}.additionalGids"


def _net_or_new_rdt(spec):
    for where, e in _edits(spec):
        if e.net_devices:
            return f"{where}.netDevices"
        rdt = e.intel_rdt
        if rdt is not None and rdt.schemata is not None:
            return f"{where}.intelRdt.schemata"
        if rdt is not None and rdt.enable_monitoring:
            return f"{where}.intelRdt.enableMonitoring"


# Newest first: the first version whose test finds a use is the one needed.
FEATURES = (("1.1.0", _net_or_new_rdt), ("0.7.0", _rdt_or_gids),
            ("0.6.0", _annotations_or_dotted_class), ("0.5.0", _host_path_or_digit),
            ("0.4.0", _mount_type))


def needed(spec) -> tuple[str, str | None]:
    """(the oldest version that has every field ``spec`` uses, the first
    field that needs it; None where 0.3.0 has them all)."""
    for version, find in FEATURES:
        where = find(spec)
        if where:
            return version, where
    return KNOWN[0], None


def check(spec) -> tuple[str, str] | None:
    """None, or (where, what is wrong) with the spec's cdiVersion."""
    declared = spec.version[1:] if spec.version.startswith("v") else spec.version
    if declared not in KNOWN:
        return ("cdiVersion", f"{spec.version!r} is not a version minirun reads "
                f"({KNOWN[0]} to {KNOWN[-1]})")
    version, where = needed(spec)
    if KNOWN.index(version) > KNOWN.index(declared):
        return (where, f"needs cdiVersion {version} or later, but the spec "
                f"declares {spec.version}")
    return None
