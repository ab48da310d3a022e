"""The oracle: podman 4.3.1 renders --format with Go's own text/template.

An image built here (rootfs-tools/build-image from the busybox rootfs, with
an Env, a Cmd, a volume and a stop signal) is loaded into a podman store of
the test's own (--root/--runroot in a temp dir).  For each template of the
corpus, ``podman image inspect --format TEMPLATE`` is compared with
minirun.gotemplate rendering the same template over podman's JSON for the
image (``podman image inspect`` without --format): the same stdout, and
failing where podman fails (with podman's partial output, since Go writes
as it goes).

What podman does around the template is done here too, so that only the
template engines differ (``podman_way``): podman 4.3's inspect rewrites
``{{.Id}}`` to ``{{.ID}}`` (its Go field), turns the characters ``\\t`` and
``\\n`` into a tab and a newline, appends a newline and wraps the format in
``{{range .}}...{{end -}}`` over the list of objects (so ``$`` is that list),
and parses the format as given if that fails.

Go sees typed values where the JSON has plain ones; the data is converted
in two documented ways, and what cannot be converted is left out:

- Go maps (Labels, Annotations, Config.Volumes, GraphDriver.Data) become
  ``GoMap``, a ``null`` one ``NilMap`` (the JSON cannot say which objects
  are maps and which are structs; minirun's own data says so the same way).
- Left out, with the reason: printing a whole struct (``{{.Config}}``,
  ``{{.RootFS}}``, a volume's ``struct{}``; Go prints ``{v1 v2}`` with every
  field, JSON omits empty ones), times (``{{.Created}}``: Go prints
  ``2000-01-01 00:00:00 +0000 UTC``, the JSON has RFC 3339), fields that
  ``omitempty`` drops from the JSON (``{{.Config.Entrypoint}}`` is ``[]`` in
  Go, absent from the JSON), ``printf``'s error forms of typed values
  (``%!s(int64=...)``: the JSON number is an ``int``), a named string type
  given to a function that takes a string (``{{truncate .Digest 9}}``
  fails in Go: a ``digest.Digest`` is no ``string``) and Go's field names
  that differ from the JSON key (``.ID``, whose key is ``Id``: podman
  rewrites ``{{.Id}}`` alone to ``{{.ID}}``, so ``{{truncate .Id 12}}``
  fails in podman and works over the JSON).

Root only: podman's overlay store is mounted; nothing here runs a container.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from minirun.gotemplate import (GoMap, NilMap, TemplateError, align, header, is_table,
                                normalize, parse)
from tests.conftest import REPO, is_root

BUILD = os.path.join(REPO, "rootfs-tools", "build-image")
IMAGE = "localhost/gotemplate-oracle:latest"
OTHER = "localhost/a-much-longer-name/for-the-table:v1.2.3"

pytestmark = [
    pytest.mark.skipif(not is_root(), reason="podman's overlay store needs root here"),
    pytest.mark.skipif(shutil.which("podman") is None,
                       reason="podman is the oracle: run scripts/setup-host as root"),
]

CONF = """[containers]
default_ulimits = ["nofile=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

# (template, what it exercises)
CORPUS = [
    ("{{.Id}}", "a field (podman rewrites .Id to .ID)"),
    ("{{.Os}}/{{.Architecture}}", "two fields and text"),
    ("{{.Config.WorkingDir}} {{.Config.StopSignal}}", "nested fields"),
    ("{{.Config.Env}}", "a list as Go prints it"),
    ("{{.RepoTags}} {{.Config.Cmd}}", "one-element lists"),
    ("{{index .RepoTags 0}}", "index of a list"),
    ("{{.RootFS.Type}} {{len .RootFS.Layers}}", "len of a list"),
    ("{{range .Config.Env}}{{.}};{{end}}", "range over a list"),
    ("{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}", "range with index and element"),
    ("{{range $k, $v := .GraphDriver.Data}}{{$k}} {{end}}", "range over a map: sorted keys"),
    ("{{range $k, $v := .Config.Volumes}}{{$k}}{{end}}", "range over a map of structs"),
    ("{{printf \"%v\" .GraphDriver.Data}}", "a map as Go prints it"),
    ('{{if eq .Os "linux"}}linux{{else if eq .Os "windows"}}windows{{else}}other{{end}}',
     "if / else if / else"),
    ("{{if .Parent}}has parent{{else}}no parent{{end}}", "if on an empty string"),
    ("{{with .Config}}{{.WorkingDir}}{{end}}", "with"),
    ("{{with .Comment}}{{.}}{{else}}no comment{{end}}", "with / else"),
    ("{{$os := .Os}}{{range .RepoTags}}{{.}}@{{$os}} {{end}}", "a variable seen in range"),
    ("{{$x := 1}}{{$x = 2}}{{$x}}", "assigning a variable"),
    ('{{printf "%s-%s" .Os .Architecture}}', "printf %s"),
    ('{{printf "%-8s|%5d|%q" .Os .Size .Config.WorkingDir}}', "printf widths, %d, %q"),
    ('{{printf "%.2f %v %x %05d %+d" 3.14159 .Config.Cmd "hi" 42 7}}', "printf verbs and flags"),
    ('{{printf "%s %d" .Os}}', "printf with a missing argument"),
    ("{{json .Config}}", "json of an object"),
    ("{{json .RootFS}} {{json .Config.Env}}", "json of an object and a list"),
    ("{{json .Labels}} {{json .Annotations}}", "json of a nil and an empty map"),
    ('{{join .Config.Env ","}}', "join"),
    ("{{len .Config.Env}} {{len .Os}} {{len .Annotations}}", "len of list, string, map"),
    ('{{eq .Os "linux"}} {{ne .Os "linux"}} {{eq .Size 5}} {{eq .Os "x" "linux"}}', "eq, ne"),
    ('{{lt .Os "m"}} {{gt .Size 1000}} {{le 1 1}} {{ge 1.5 2.5}}', "lt, gt, le, ge"),
    ("{{and .Os .Parent}}|{{or .Parent .Os}}|{{not .Parent}}", "and, or, not"),
    ('{{lower "ABC"}} {{upper .Os}} {{title "hello wOrld foo-bar"}}', "lower, upper, title"),
    ("{{truncate .Os 3}} {{truncate (index .RepoTags 0) 9}}", "truncate"),
    ('{{split .Config.Env.foo "/"}}', "a field of a list is an error"),
    ('{{split "a/b/c" "/"}} {{pad .Os 2 1}}|', "split, pad"),
    ("{{.Labels}}", "a nil map prints map[]"),
    ("{{.Labels.foo}}", "a missing map key prints <no value>"),
    ('{{index .Labels "foo"}}|{{index .GraphDriver.Data "nope"}}', "index of a missing key"),
    ("{{range .Labels}}x{{else}}no labels{{end}}", "range over a nil map, else"),
    ("{{slice .Config.Env 0 0}}|{{range (slice .Config.Env 0 0)}}x{{else}}empty{{end}}",
     "an empty list"),
    ("{{slice .Os 1 3}} {{index .Os 0}}", "slice and index of a string"),
    ("{{.Foo}}", "a missing struct field is an error"),
    ("{{.Config.Foo}}", "a missing nested field is an error"),
    ("{{.Os}} then {{.Nope}}", "an error after some output"),
    ("{{.Os.Foo}}", "a field of a string is an error"),
    ("{{index .Config.Env 9}}", "index out of range"),
    ('{{eq .Os 1}}', "comparing a string with a number"),
    ("{{$.Os}}", "$ is podman's list of objects"),
    ('{{.Os | printf "%s!"}}', "a pipeline"),
    ("{{.Config.Env | len | printf \"%d vars\"}}", "a longer pipeline"),
    ('{{(index .RepoTags 0) | printf "%.9s"}}', "a parenthesised pipeline"),
    ("{{(index .RepoTags 0) | truncate 9}}", "the piped value is the last argument"),
    ("{{(.RootFS).Type}}", "a field of a parenthesised pipeline"),
    ("{{- .Os -}} x {{/* a comment */}} y", "trim markers and a comment"),
    ('{{range .Config.Env}}{{if eq . "FOO=bar"}}{{break}}{{end}}{{.}} {{end}}', "break"),
    ('{{range .Config.Env}}{{if eq . "FOO=bar"}}{{continue}}{{end}}{{.}} {{end}}', "continue"),
    ("{{.Os}}\\t{{.Architecture}}\\n", "the characters \\t and \\n"),
    ('{{print .Size .Os 1 2 "a"}} {{println .Os}}', "print, println"),
    ("{{1.5}} {{1e3}} {{0x10}} {{'a'}} {{1e21}} {{1e-5}} {{100000000.0}}", "number literals"),
    ("{{.Os", "parse error: unclosed action"),
    ("{{if .Os}}unclosed", "parse error: unclosed if"),
    ("{{nosuchfunc .Os}}", "parse error: unknown function"),
    ("{{$nope}}", "parse error: undefined variable"),
    ("{{.Os | len 3}}", "wrong number of arguments"),
    ('{{truncate .Os "a"}}', "wrong argument type"),
    ('{{printf "a\\nb"}}', "podman's retry of the format as given"),
]

# Corners of Go's language, each checked against podman the same way:
# printf's verbs, flags and error forms, number literals, json's encoding,
# nil, comparisons, and the parse and execution errors of Go's own wording.
EDGES = [
    '{{printf "%5t|%-7v|%x|%X|%o|%b|%c|%U|%e|%G" true "ab" -42 255 8 5 9731 9731 123456.789 1e-7}}',
    '{{printf "%08.3f|%+.2e|% d|%#o|%#x|%q|%q" -3.14159 12345.678 5 8 "hi" 10 39}}',
    '{{printf "%6.2v|%.1s|%-4d|%4s|" "abcdef" "xyz" 7 "é"}}',
    '{{printf "%d" .Config.Env}}',
    '{{printf "%s" 1.5}}',
    '{{printf "%t" 1}}',
    '{{printf "%z" "a"}}',
    '{{printf "100%%"}}',
    '{{printf "x%"}}',
    '{{printf "%v %v" nil .Labels.foo}}',
    '{{print nil 1}}',
    '{{print .Labels.foo "a"}}',
    '{{index "abc" 1}} {{slice "abcdef" 1}} {{slice .Config.Env 1 2}} {{slice "abc" 1 1}}',
    '{{println 1 "a" 2}}',
    '{{print 1 "a" 2 3}}',
    '{{html "<a href=\'x\'>&\\"" }} {{urlquery "a b&c/d~"}}',
    '{{json 1.0}} {{json 1e21}} {{json 1e-7}}',
    '{{json 0.000001}} {{json 1.5e300}} {{json "a\\u00e9<>&\\t\\u2028\\x01\\b"}}',
    '{{title "ǆabc ßx élan a.b a_b 1st"}}',
    '{{split "abc" ""}} {{split "" ","}} {{len (split "" ",")}}',
    '{{pad "" 2 2}}|',
    '{{range $e := .Config.Env}}{{$e}},{{end}}',
    '{{if and 1 0}}y{{else}}n{{end}} {{and 1 2}} {{or 0 ""}}',
    '{{or 0 "" nil}}',
    '{{not 0}} {{not "x"}} {{not .Labels}}',
    '{{eq .Os nil}}',
    '{{eq .Labels.foo .Labels.bar}}',
    '{{range 3}}x{{end}}',
    '{{range .Os}}x{{end}}',
    '{{/* unclosed',
    '{{/* c */ .Os}}',
    '{{-3}} {{- 3}}',
    '{{"\\u00e9\\x41\\101\\t"}}',
    '{{`raw\\n`}}',
    '{{\'\\n\' | printf "%q"}}',
    '{{eq .Config.Env .Config.Env}}',
    '{{eq 1 1.0}}',
    '{{lt true false}}',
    '{{len 3}}',
    '{{index .Config.Env "a"}}',
    '{{index .Labels 1}}',
    '{{index .GraphDriver.Data "UpperDir" 0}}',
    '{{.Os | .Architecture}}',
    '{{.Labels.foo 1}}',
    '{{$x := .Os}}{{$x.Foo}}',
    '{{$x 1}}',
    '{{else}}',
    '{{end}}',
    '{{range .Config.Env}}{{else}}{{else}}{{end}}',
    '{{with .Os}}{{else if .Os}}{{end}}',
    '{{break}}',
    '{{if .Os}}{{break}}{{end}}',
    '{{define "x"}}{{end}}',
    '{{.Os |}}',
    '{{| .Os}}',
    '{{(.Os}}',
    '{{.Os)}}',
    '{{1 | printf "%d"}} {{.Os | 3}}',
    '{{printf "%*d|%-*d|" 5 1 4 2}}',
    '{{printf "%.3g|%g|%g|%v|%v" 1234.5678 0.00001234 123456789.0 -0.0 1e100}}',
    '{{1e100}} {{-1.5}} {{+2}} {{0o17}} {{0b101}} {{017}} {{1_000}}',
    '{{printf "%x|%X|% x|%#x" "héllo" "hi" "hi" "hi"}}',
    '{{printf "%c|%q|%U" 128512 128512 128512}}',
    '{{printf "%q" "a\\x00b\\u00ad\\U0001F600"}}',
    '{{printf "%#q" "abc"}}',
    '{{printf "%5.1f|%-8.3e|%+v" 3.14159 1234.5 -7}}',
    '{{printf "%s" .GraphDriver.Data}}',
    '{{printf "%v" (slice .Config.Env 0 1)}} {{printf "%5v" (slice .Config.Cmd 0 1)}}',
    '{{printf "%d %s" 1}}',
    '{{printf "%d" 1 2 "x"}}',
]


class PodmanStore:
    """podman with a store of its own under a temp dir."""

    def __init__(self, rootfs: str):
        self.dir = tempfile.mkdtemp(prefix="minirun-gotemplate-", dir="/tmp")
        with open(os.path.join(self.dir, "containers.conf"), "w") as f:
            f.write(CONF)
        layout = os.path.join(self.dir, "image")
        subprocess.run([sys.executable, BUILD, layout, "--layer", rootfs, "--cmd", "sh",
                        "--env", "FOO=bar", "--env", "A=b c", "--volume", "/data",
                        "--stop-signal", "SIGTERM", "--tag", IMAGE],
                       check=True, capture_output=True)
        archive = os.path.join(self.dir, "image.tar")
        subprocess.run(["tar", "-C", layout, "-cf", archive, "."], check=True)
        self("load", "-i", archive, check=True)
        self("tag", IMAGE, OTHER, check=True)

    def __call__(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        env = dict(os.environ, CONTAINERS_CONF=os.path.join(self.dir, "containers.conf"))
        r = subprocess.run(["podman", "--root", f"{self.dir}/storage", "--runroot",
                            f"{self.dir}/run", *args], capture_output=True, text=True,
                           env=env, timeout=120, stdin=subprocess.DEVNULL)
        assert not check or r.returncode == 0, f"podman {args}: {r.stderr}"
        return r

    def cleanup(self) -> None:
        self("rmi", "-af")
        # podman leaves its storage's overlay mount behind: unmount what is
        # under our directory, deepest first.
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f if f" {self.dir}/" in line]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def podman(busybox_rootfs):
    store = PodmanStore(busybox_rootfs)
    yield store
    store.cleanup()


MAPS = ("Labels", "Annotations", "Config.Labels", "Config.Volumes", "Config.ExposedPorts",
        "GraphDriver.Data")


def as_go_sees_it(obj: dict) -> dict:
    """podman's JSON with its Go maps marked: GoMap, or NilMap for null."""
    for path in MAPS:
        *parents, last = path.split(".")
        holder = obj
        for name in parents:
            holder = holder.get(name) or {}
        if last in holder:
            holder[last] = NilMap() if holder[last] is None else GoMap(holder[last])
    return obj


@pytest.fixture(scope="module")
def data(podman) -> dict:
    r = podman("image", "inspect", IMAGE, check=True)
    return as_go_sees_it(json.loads(r.stdout)[0])


RANGE = re.compile(r"(?s){{\s*range\s*\.\s*}}.*{{\s*end\s*-?\s*}}")


def podman_way(template: str, obj) -> tuple[str, bool]:
    """(stdout, failed) of what podman 4.3's inspect does with --format
    (cmd/podman/inspect inspectNormalize, then common's Formatter.Parse for
    a user's format and Execute over the list of objects)."""
    # podman rewrites {{.Id}} to {{.ID}}, its Go field, whose JSON key is
    # Id: over the JSON the template stays as it is.
    text = normalize(template)
    text = text if text.endswith("\n") else text + "\n"

    def wrapped(t):
        return t if RANGE.search(t) else "{{range .}}" + t + "{{end -}}"
    try:
        parsed = parse(wrapped(text))
    except TemplateError:
        try:
            parsed = parse(wrapped(template))
        except TemplateError:
            return "", True
    try:
        return parsed.execute([obj]), False
    except TemplateError as e:
        return e.output, True


@pytest.mark.parametrize("template", [t for t, _ in CORPUS],
                         ids=[why for _, why in CORPUS])
def test_inspect_format_like_podman(podman, data, template):
    r = podman("image", "inspect", "--format", template, IMAGE)
    want = (r.stdout, r.returncode != 0)
    got = podman_way(template, data)
    assert got == want, f"podman's stderr: {r.stderr.strip()}"


@pytest.mark.parametrize("template", EDGES)
def test_corners_like_podman(podman, data, template):
    test_inspect_format_like_podman(podman, data, template)


def test_error_messages_name_what_podman_names(podman, data):
    """The part of Go's message after its position is the same."""
    for template, phrase in (("{{.Foo}}", "can't evaluate field Foo"),
                             ("{{nosuchfunc .Os}}", 'function "nosuchfunc" not defined'),
                             ("{{index .Config.Env 9}}", "error calling index: index out of "
                                                         "range: 9")):
        r = podman("image", "inspect", "--format", template, IMAGE)
        assert phrase in r.stderr
        with pytest.raises(TemplateError, match=re.escape(phrase)) as e:
            parse(template).execute(data)
        assert e.value.exit_code == r.returncode == 125


# The images table: podman computes Repository, Tag and ID from each
# image's Names and Id (a row per name, in the order of the JSON's entries);
# these rows are made the same way.  Size and Created are humanised by
# podman ("2.14 MB", "26 years ago") and left out.
TABLES = [
    "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}",
    "table {{.ID}}\\t{{.Repository}}:{{.Tag}}",
    "table {{.Repository}} {{.Tag | lower}}  x{{.Containers}}",
    "table {{.Repository}}\\t{{.Tag}}\\t",
    'table {{printf "%s %s" .Repository .Tag}}\\tX',
    "table {{.Repository}}:{{.Tag}}",
    "table {{.ReadOnly}}\\t{{.Repository}}",
]


def image_rows(podman) -> list[dict]:
    entries = json.loads(podman("images", "--format", "json", check=True).stdout)
    rows = []
    for n, entry in enumerate(entries):
        repository, tag = entry["Names"][n % len(entry["Names"])].rsplit(":", 1)
        rows.append({"Repository": repository, "Tag": tag, "ID": entry["Id"][:12],
                     "Digest": entry["Digest"], "Containers": entry["Containers"],
                     "ReadOnly": False})
    return rows


@pytest.mark.parametrize("template", TABLES)
def test_table_like_podman(podman, template):
    r = podman("images", "--format", template, check=True)
    assert is_table(template)
    body = parse(normalize(template))
    names = {"ID": "IMAGE ID", "ReadOnly": "R/O"}
    lines = align([header(template, names)] + [body.execute(row) for row in image_rows(podman)])
    assert "\n".join(lines) + "\n" == r.stdout


def test_ps_header_like_podman(podman):
    """No containers: the header row alone, with podman's names for ps."""
    template = "table {{.ID}} {{.Names|upper}} {{.RunningFor}}\\t{{.CreatedAt}} {{.Ports}}"
    r = podman("ps", "-a", "--format", template, check=True)
    names = {"ID": "container id", "RunningFor": "running for"}
    assert "\n".join(align([header(template, names)])) + "\n" == r.stdout
