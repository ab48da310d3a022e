"""--format, as podman takes it: ``json``, a Go template, or a ``table``
template whose header names its columns (minirun/gotemplate.py is the
template language).  Every listing prints through :func:`rows`, every
inspect through :func:`objects`, so one rule holds everywhere: the default
table is itself a template, an unknown field is an error (exit 125), and
the output is byte for byte what podman's is for the same data.
"""
import json
import time

import click

from minirun import gotemplate


class Struct(gotemplate.GoStruct):
    """A row or object as Go holds it: a struct (an unknown field is an
    error), whose fields may have a second name (podman's Go field ``ID``
    of the JSON key ``Id``).  The aliases are not keys: ``{{json .}}``
    prints the JSON keys alone."""

    aliases: dict = {}
    empty: tuple = ()           # Go fields the JSON leaves out when empty (nil maps)

    def __contains__(self, name) -> bool:
        return super().__contains__(name) or name in self.empty or (
            name in self.aliases and super().__contains__(self.aliases[name]))

    def __missing__(self, name):
        if name in self.aliases and super().__contains__(self.aliases[name]):
            return self[self.aliases[name]]
        if name in self.empty:
            return gotemplate.NilMap()
        raise KeyError(name)


class Inspected(Struct):
    aliases = {"ID": "Id"}


class Capitalized(Struct):
    """podman's info: JSON keys in lower camel case, Go fields capitalised
    (graphRoot is GraphRoot), with Go's few other spellings."""
    spelled = {"CgroupsVersion": "cgroupVersion", "OS": "os", "OCIRuntime": "ociRuntime",
               "CPUs": "cpus"}

    def __contains__(self, name) -> bool:
        return super().__contains__(name) or dict.__contains__(self, self._json(name))

    def __missing__(self, name):
        key = self._json(name)
        if dict.__contains__(self, key):
            return self[key]
        raise KeyError(name)

    def _json(self, name: str) -> str:
        return self.spelled.get(name, name[:1].lower() + name[1:])


class Network(Struct):
    """A network: netavark's JSON keys, the Go struct's field names."""
    aliases = {"Name": "name", "ID": "id", "Driver": "driver", "Created": "created",
               "NetworkInterface": "network_interface", "Subnets": "subnets",
               "IPv6Enabled": "ipv6_enabled", "Internal": "internal",
               "DNSEnabled": "dns_enabled", "IPAMOptions": "ipam_options",
               "Subnet": "subnet", "Gateway": "gateway"}
    empty = ("Labels", "Options")


# keys whose values Go holds as maps (podman's map[string]...): a missing
# key of one is <no value>, not an error, and a nil one prints map[]
MAPS = {"Labels", "Annotations", "Networks", "Ports", "PortBindings", "Tmpfs", "Volumes",
        "ExposedPorts", "Options", "Data", "Namespaces", "Health"}


def typed(value, key: str | None = None, struct=Struct):
    """JSON data as Go holds it: dicts under MAPS keys become GoMap (None:
    NilMap), other dicts ``struct``s."""
    if key in MAPS and value is None:
        return gotemplate.NilMap()
    if isinstance(value, dict):
        items = {k: typed(v, k, struct) for k, v in value.items()}
        return gotemplate.GoMap(items) if key in MAPS else struct(items)
    if isinstance(value, list):
        return [typed(v, None, struct) for v in value]
    return value


def rows(fmt: str | None, items: list[dict], default: str, names: dict[str, str],
         struct=Struct, heading: bool = True) -> None:
    """Print ``items`` (rows with podman's field names) as ``fmt`` asks:
    None or "table" (``default``, a table template), "json" (a list of the
    rows), or a template (``table ...`` gets a header from ``names``, unless
    not ``heading``: --noheading)."""
    if fmt == "json":
        click.echo(json.dumps(items, indent=2))       # podman's listing indent
        return
    text = default if fmt in (None, "", "table") else fmt
    body = gotemplate.parse(gotemplate.normalize(text))
    lines = [_line(body, typed(item, None, struct)) for item in items]
    if gotemplate.is_table(text):
        lines = gotemplate.align([gotemplate.header(text, names)] + lines)[0 if heading else 1:]
    for line in lines:
        click.echo(line)


def objects(fmt: str | None, items: list[dict], struct=Inspected) -> None:
    """inspect's output: JSON (podman's indent), or ``fmt`` over each object
    as podman runs it (``{{range .}}FMT\\n{{end}}``: there ``$`` is the list)."""
    if fmt in (None, "", "json"):
        click.echo(json.dumps(items, indent=5))       # podman's inspect indent
        return
    text = gotemplate.normalize(fmt)
    if not text.endswith("\n"):
        text += "\n"
    template = gotemplate.parse("{{range .}}" + text + "{{end -}}")
    click.echo(_line(template, [typed(i, None, struct) for i in items]), nl=False)


def _line(template, data) -> str:
    try:
        return template.execute(data)
    except gotemplate.TemplateError as e:
        click.echo(e.output, nl=False)       # podman prints what came before, too
        raise


def ago(stamp: str | None, now: float | None = None) -> str:
    """podman's "5 minutes ago" (go-units' HumanDuration) of an RFC 3339 stamp."""
    if not stamp:
        return ""
    return human_duration((now or time.time()) - epoch(stamp)) + " ago"


def go_time(stamp: str | None) -> str:
    """An RFC 3339 stamp as Go prints a time.Time: 2024-01-02 03:04:05.123 +0000 UTC."""
    if not stamp:
        return "0001-01-01 00:00:00 +0000 UTC"
    head, _, frac = stamp.rstrip("Z").partition(".")
    frac = frac.rstrip("0")
    return head.replace("T", " ") + (f".{frac}" if frac else "") + " +0000 UTC"


def epoch(stamp: str) -> float:
    import datetime
    head, _, frac = stamp.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return t + (float("0." + frac) if frac.isdigit() else 0.0)


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, which podman prints in its CREATED and
    STATUS columns."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def size(n: int | None, precision: int = 3, space: str = " ") -> str:
    """go-units' HumanSizeWithPrecision(n, 3), as podman prints sizes (1e3
    units): 2.14 MB (images), or 2.141MB (system df: 4, no space)."""
    if n is None:
        return ""
    value, unit = float(n), 0
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    return f"{value:.{precision}g}{space}{units[unit]}"
