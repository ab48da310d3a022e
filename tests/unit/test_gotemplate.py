"""minirun.gotemplate: Go's text/template language as podman's --format
speaks it.  Pure and fast; every expected value here is what podman 4.3
(Go's own text/template) printed for the same template, checked by hand or
in tests/e2e/test_gotemplate_oracle.py."""
import ast
import os

import pytest

from minirun import gotemplate
from minirun.errors import MiniRunError
from minirun.gotemplate import (GoMap, NilMap, NilSlice, TemplateError, align, camel_split,
                                header, is_table, normalize, parse, render)

DATA = {
    "Id": "ad26d527d534",
    "Os": "linux",
    "Size": 2141480,
    "Parent": "",
    "RepoTags": ["localhost/gt:latest", "localhost/gt:v1"],
    "Config": {"Env": ["PATH=/bin", "FOO=bar", "A=b c"], "Cmd": ["sh"], "WorkingDir": "/",
               "Labels": NilMap(), "Volumes": GoMap({"/data": GoMap()})},
    "Labels": NilMap(),
    "Annotations": GoMap(),
    "Data": GoMap({"WorkDir": "/w", "UpperDir": "/u"}),
    "Entrypoint": NilSlice(),
    "Nothing": None,
}


def fails(template: str, data=DATA) -> TemplateError:
    with pytest.raises(TemplateError) as e:
        render(template, data)
    return e.value


# ---------------------------------------------------------------- the API

def test_a_template_is_parsed_once_and_executed_per_row():
    t = parse("{{.Name}}={{.Value}}")
    assert [t.execute(r) for r in ({"Name": "a", "Value": 1}, {"Name": "b", "Value": 2})] \
        == ["a=1", "b=2"]


def test_template_error_is_minirun_error_with_exit_125():
    e = fails("{{.Nope}}")
    assert isinstance(e, MiniRunError) and e.exit_code == 125
    assert "\n" not in str(e)


def test_an_execution_error_keeps_the_output_before_it():
    """Go writes as it goes, and podman prints that much before the error."""
    e = fails("{{.Os}} then {{.Nope}}")
    assert e.output == "linux then "
    assert str(e) == "template: executing at <.Nope>: can't evaluate field Nope in type struct"


def test_the_package_imports_nothing_of_minirun_but_errors():
    imported = set()
    for name in os.listdir(os.path.dirname(gotemplate.__file__)):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(os.path.dirname(gotemplate.__file__), name)).read())
            imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                         for a in n.names}
    outside = {m for m in imported if m and m.startswith("minirun")
               and not m.startswith("minirun.gotemplate.")}
    assert outside == {"minirun.errors"}


# ---------------------------------------------------------------- data as Go sees it

@pytest.mark.parametrize("template, want", [
    ("{{.Os}} {{.Size}} {{.Config.WorkingDir}}", "linux 2141480 /"),
    ("{{.Config.Env}}", "[PATH=/bin FOO=bar A=b c]"),
    ("{{.Data}}", "map[UpperDir:/u WorkDir:/w]"),          # a map prints sorted
    ("{{.Labels}}|{{.Entrypoint}}|{{.Annotations}}", "map[]|[]|map[]"),
    ("{{.Labels.foo}}|{{.Data.nope}}", "<no value>|<no value>"),   # a map's missing key
    ('{{index .Labels "foo"}}|{{index .Data "nope"}}', "|"),     # map[string]string's zero
    ("{{.Nothing}}|{{.Nothing.Field}}|{{len .Nothing}}", "<no value>|<no value>|0"),
    ("{{print .Nothing}} {{printf \"%v\" .Labels.foo}}", "<nil> <nil>"),
    ("{{range .Nothing}}x{{else}}empty{{end}}", "empty"),
    ("{{json .Labels}} {{json .Entrypoint}} {{json .Annotations}} {{json .Nothing}}",
     "null null {} null"),
    ("{{true}} {{false}} {{1.5}} {{3}}", "true false 1.5 3"),
    ("{{.}}", str(["a"]).replace("'", "").replace(",", "")),
])
def test_values_print_as_go_prints_them(template, want):
    data = ["a"] if template == "{{.}}" else DATA
    assert render(template, data) == want


def test_a_missing_struct_field_is_an_error_never_empty():
    assert "can't evaluate field Foo in type struct" in str(fails("{{.Config.Foo}}"))
    assert "can't evaluate field Foo in type string" in str(fails("{{.Os.Foo}}"))
    assert "can't evaluate field foo in type []string" in str(fails("{{.Config.Env.foo}}"))


def test_a_list_inside_a_list_prints_nil_for_none():
    assert render("{{.}}", [None, 1, [2, "x"], {"b": None, "a": True}]) \
        == "[<nil> 1 [2 x] map[a:true b:<nil>]]"


@pytest.mark.parametrize("value, want", [
    (1.0, "1"), (1e6, "1e+06"), (123456.0, "123456"), (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"), (1e-5, "1e-05"), (-0.0, "-0"), (1e21, "1e+21"), (1e100, "1e+100"),
    (-1.5, "-1.5"), (123456789.0, "1.23456789e+08"), (float("inf"), "+Inf"),
])
def test_floats_print_as_percent_v(value, want):
    assert render("{{.}}", value) == want


# ---------------------------------------------------------------- actions

@pytest.mark.parametrize("template, want", [
    ('{{if eq .Os "linux"}}L{{else if eq .Os "x"}}X{{else}}O{{end}}', "L"),
    ('{{if eq .Os "x"}}X{{else if .Parent}}P{{else}}O{{end}}', "O"),
    ("{{if .Labels}}yes{{else}}no{{end}}", "no"),
    ("{{with .Config}}{{.WorkingDir}}{{end}}", "/"),
    ("{{with .Parent}}p{{else}}no parent{{end}}", "no parent"),
    ("{{with $x := .Os}}{{$x}}{{end}}", "linux"),
    ("{{range .RepoTags}}{{.}};{{end}}", "localhost/gt:latest;localhost/gt:v1;"),
    ("{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}", "0=PATH=/bin 1=FOO=bar 2=A=b c "),
    ("{{range $e := .Config.Cmd}}{{$e}}{{end}}", "sh"),
    ("{{range $k, $v := .Data}}{{$k}}:{{$v}} {{end}}", "UpperDir:/u WorkDir:/w "),
    ("{{range .Labels}}x{{else}}none{{end}}", "none"),
    ('{{range .Config.Env}}{{if eq . "FOO=bar"}}{{break}}{{end}}{{.}} {{end}}', "PATH=/bin "),
    ('{{range .Config.Env}}{{if eq . "FOO=bar"}}{{continue}}{{end}}{{.}} {{end}}',
     "PATH=/bin A=b c "),
    ("{{$os := .Os}}{{range .RepoTags}}{{$os}}{{$.Size}} {{end}}", "linux2141480 linux2141480 "),
    ("{{$x := 0}}{{range .Config.Env}}{{$x = .}}{{end}}{{$x}}", "A=b c"),
    ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
    ('{{.Os | printf "%s-%s" "a"}}', "a-linux"),
    ('{{.Config.Env | len | printf "%d vars"}}', "3 vars"),
    ("{{(index .RepoTags 1) | len}} {{(.Config).WorkingDir}}", "15 /"),
    ("{{.Os |}}", "linux"),                                   # Go allows a trailing |
    ("a  {{- .Os -}}  b", "alinuxb"),
    ("{{/* c */}}x{{- /* c */ -}} y", "xy"),
    ("{{-3}} {{- 3}}", "-33"),
    ("{{.Os\n}}", "linux"),                                   # a newline inside an action
    ('{{"\\u00e9\\x41\\101\\t"}}|{{`raw\\n`}}', "éAA\t|raw\\n"),
    ("{{1e3}} {{0x10}} {{'a'}} {{0o17}} {{0b101}} {{017}} {{1_000}} {{+2}}",
     "1000 16 97 15 5 15 1000 2"),
])
def test_actions(template, want):
    assert render(template, DATA) == want


def test_variables_end_with_their_block():
    assert "undefined variable \"$e\"" in str(fails("{{range $e := .RepoTags}}{{end}}{{$e}}"))


# ---------------------------------------------------------------- errors in Go's words

@pytest.mark.parametrize("template, message", [
    ("{{.Os", "unclosed action"),
    ("{{.Os}", "bad character U+007D '}'"),
    ("{{if .Os}}x", "unexpected EOF"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{range}}{{end}}", "missing value for range"),
    ("{{}}", "missing value for command"),
    ("{{foo .Os}}", 'function "foo" not defined'),
    ("{{| .Os}}", 'unexpected "|" in command'),
    ("{{$y}}", 'undefined variable "$y"'),
    ('{{"abc}}', "unterminated quoted string"),
    ("{{(.Os}}", "unclosed left paren"),
    ("{{.Os.}}", "unexpected <.> in operand"),
    ("{{range $a, $b, $c := .L}}{{end}}", "too many declarations in range"),
    ("{{with .Os}}{{else if .Os}}{{end}}", "unexpected <if> in input"),
    ("{{range .L}}{{else}}{{else}}{{end}}", "expected end; found {{else}}"),
    ("{{break}}", "{{break}} outside {{range}}"),
    ("{{/* unclosed", "unclosed comment"),
    ("{{/* c */ .Os}}", "comment ends before closing delimiter"),
    ("{{1 | printf}}{{.Os | 3}}", "non executable command in pipeline stage 2"),
    ('{{define "x"}}{{end}}', "{{define}} is not supported"),
])
def test_parse_errors(template, message):
    with pytest.raises(TemplateError) as e:
        parse(template)
    assert str(e.value).startswith("template: parsing: ")
    assert message in str(e.value)


def test_a_parse_error_names_its_line_in_a_longer_template():
    with pytest.raises(TemplateError, match=r"^template: parsing: line 2: unclosed action"):
        parse("{{.Os}}\n{{.Arch")


@pytest.mark.parametrize("template, message", [
    ("{{index .Config.Env 5}}", "error calling index: index out of range: 5"),
    ("{{index .Config.Env \"a\"}}", "cannot index slice/array with type string"),
    ("{{index .Labels 1}}", "value has type int; should be string"),
    ("{{len .Os .Os}}", "wrong number of args for len: want 1 got 2"),
    ("{{printf}}", "wrong number of args for printf: want at least 1 got 0"),
    ("{{.Os | len 3}}", "wrong number of args for len: want 1 got 2"),
    ("{{.Os \"x\"}}", "Os has arguments but cannot be invoked as function"),
    ("{{.Labels.foo 1}}", "foo is not a method but has arguments"),
    ("{{3 .Os}}", "can't give argument to non-function 3"),
    ("{{nil}}", "nil is not a command"),
    ("{{eq .Os 1}}", "error calling eq: incompatible types for comparison"),
    ("{{eq .Config.Env .Config.Env}}", "error calling eq: non-comparable type"),
    ("{{lt true false}}", "error calling lt: invalid type for comparison"),
    ("{{len 3}}", "error calling len: len of type int"),
    ("{{slice .Os 3 1}}", "error calling slice: invalid slice index: 3 > 1"),
    ('{{truncate .Os "a"}}', "wrong type for value; expected int; got string"),
    ("{{join .Data \",\"}}", "wrong type for value; expected []string"),
    ("{{upper .Nothing}}", "invalid value; expected string"),
    ("{{range 3}}x{{end}}", "range can't iterate over 3"),
    ("{{range .Os}}x{{end}}", "range can't iterate over linux"),
    ('{{printf "%#v" .Os}}', "%#v is not supported"),
])
def test_execution_errors(template, message):
    e = fails(template)
    assert str(e).startswith("template: executing at <")
    assert message in str(e)


# ---------------------------------------------------------------- functions

@pytest.mark.parametrize("template, want", [
    ("{{len .Config.Env}} {{len .Os}} {{len .Annotations}} {{len \"é\"}}", "3 5 0 2"),
    ("{{index .Config.Env 1}} {{index \"abc\" 1}} {{index .Data \"UpperDir\" 0}}",
     "FOO=bar 98 47"),
    ('{{slice "abcdef" 1}} {{slice .Config.Env 1 2}} {{slice "abc" 1 1}}|', "bcdef [FOO=bar] |"),
    ("{{and .Os .Parent}}|{{or .Parent .Os}}|{{not .Parent}}|{{and 1 2}}|{{or 0 \"\" nil}}",
     "|linux|true|2|<no value>"),
    ('{{eq .Os "linux"}} {{ne .Os "linux"}} {{eq .Os "x" "linux"}} {{eq .Size 2141480}}',
     "true false true true"),
    ("{{eq .Os nil}} {{eq .Labels.foo .Labels.bar}}", "false true"),
    ('{{lt .Os "m"}} {{gt .Size 1000}} {{le 1 1}} {{ge 1.5 2.5}}', "true true true false"),
    ('{{print .Size .Os 1 2 "a" "b"}}', "2141480linux1 2ab"),
    ("{{println .Os 1}}", "linux 1\n"),
    ('{{html "<a href=\'x\'>&\\""}} {{urlquery "a b&c/d~"}}',
     "&lt;a href=&#39;x&#39;&gt;&amp;&#34; a+b%26c%2Fd~"),
    ('{{join .Config.Env ","}}', "PATH=/bin,FOO=bar,A=b c"),
    ('{{lower "ABC"}} {{upper .Os}} {{title "hello wOrld foo-bar o\'neil"}}',
     "abc LINUX Hello WOrld Foo-Bar O'Neil"),
    ('{{title "ǆabc ßx élan a.b a_b 1st"}}', "ǅabc ßx Élan A.B A_b 1st"),
    ('{{truncate .Os 3}} {{truncate .Os 9}}', "lin linux"),
    ('{{split .Os "n"}} {{split "abc" ""}} {{split "" ","}} {{len (split "" ",")}}',
     "[li ux] [a b c] [] 1"),
    ('{{pad .Os 2 3}}|{{pad "" 2 2}}|', "  linux   ||"),
    ("{{json .Config.Env}} {{json .Size}} {{json .Os}}",
     '["PATH=/bin","FOO=bar","A=b c"] 2141480 "linux"'),
])
def test_functions(template, want):
    assert render(template, DATA) == want


def test_json_keeps_a_structs_order_and_sorts_a_maps():
    data = {"Z": 1, "A": GoMap({"b": 2, "a": 1}), "M": [1.0, None, True]}
    assert render("{{json .}}", data) == '{"Z":1,"A":{"a":1,"b":2},"M":[1,null,true]}'


def test_json_encodes_as_go_does():
    assert render('{{json 1.0}} {{json 1e21}} {{json 1e-7}} {{json 0.000001}} {{json 1.5e300}}',
                  {}) == "1 1e+21 1e-7 0.000001 1.5e+300"
    assert render("{{json .}}", "aé<>&\t\u2028\x01\b") == '"aé<>&\\t\\u2028\\u0001\\u0008"'


@pytest.mark.parametrize("template, want", [
    ('{{printf "%5t|%-7v|%x|%X|%o|%b|%c|%U|%e|%G" true "ab" -42 255 8 5 9731 9731 '
     '123456.789 1e-7}}', " true|ab     |-2a|FF|10|101|☃|U+2603|1.234568e+05|1E-07"),
    ('{{printf "%08.3f|%+.2e|% d|%#o|%#x|%q|%q" -3.14159 12345.678 5 8 "hi" 10 39}}',
     "-003.142|+1.23e+04| 5|010|0x6869|'\\n'|'\\''"),
    ('{{printf "%6.2v|%.1s|%-4d|%4s|%05s" "abcdef" "xyz" 7 "é" "ab"}}',
     "    ab|x|7   |   é|000ab"),
    ('{{printf "%-10s|%5.2f|%x" "linux" 3.14159 "linux"}}', "linux     | 3.14|6c696e7578"),
    ('{{printf "%.3g|%g|%g|%v|%10.3v|" 1234.5678 0.00001234 123456789.0 -0.0 3.14159}}',
     "1.23e+03|1.234e-05|1.23456789e+08|-0|      3.14|"),
    ('{{printf "%x|%X|% x|%#x" "héllo" "hi" "hi" "hi"}}', "68c3a96c6c6f|6869|68 69|0x6869"),
    ('{{printf "%c|%q|%U" 128512 128512 128512}}', "😀|'😀'|U+1F600"),
    ('{{printf "%q|%#q" "a\\x00b\\u00ad\\U0001F600" "abc"}}', '"a\\x00b\\u00ad😀"|`abc`'),
    ('{{printf "%*d|%-*d|" 5 1 4 2}}', "    1|2   |"),
    ('{{printf "%d" .Config.Env}}',
     "[%!d(string=PATH=/bin) %!d(string=FOO=bar) %!d(string=A=b c)]"),
    ('{{printf "%s|%t|%z|%v" 1.5 1 "a" .Config.Cmd}}',
     "%!s(float64=1.5)|%!t(int=1)|%!z(string=a)|[sh]"),
    ('{{printf "100%%"}}|{{printf "x%"}}', "100%|x%!(NOVERB)"),
    ('{{printf "%d %s" 1}}|{{printf "%d" 1 2 "x"}}', "1 %!s(MISSING)|1%!(EXTRA int=2, string=x)"),
    ('{{printf "%v %v" nil .Labels.foo}}', "<nil> <nil>"),
    ('{{printf "%5v" .Config.Cmd}}', "[   sh]"),                 # the verb goes element-wise
])
def test_printf(template, want):
    assert render(template, DATA) == want


# ---------------------------------------------------------------- podman's tables

def test_is_table():
    assert is_table("table {{.ID}}")
    assert not is_table("{{.ID}} table ") and not is_table("table")


def test_normalize_is_podmans():
    """A table's spaces and \\t become column breaks; any format's \\t and \\n
    (the two characters) become a tab and a newline."""
    assert normalize("table {{.A}} {{.B}}\\t{{.C}}\\n") == "{{.A}}\t{{.B}}\t{{.C}}\n"
    assert normalize("{{.A}} {{.B}}\\t{{.C}}\\n") == "{{.A}} {{.B}}\t{{.C}}\n"


@pytest.mark.parametrize("word, parts", [
    ("", []), ("lowercase", ["lowercase"]), ("Class", ["Class"]), ("MyClass", ["My", "Class"]),
    ("MyC", ["My", "C"]), ("HTML", ["HTML"]), ("PDFLoader", ["PDF", "Loader"]),
    ("AString", ["A", "String"]), ("SimpleXMLParser", ["Simple", "XML", "Parser"]),
    ("vimRPCPlugin", ["vim", "RPC", "Plugin"]), ("GL11Version", ["GL", "11", "Version"]),
    ("99Bottles", ["99", "Bottles"]), ("May5", ["May", "5"]), ("BFG9000", ["BFG", "9000"]),
    ("BöseÜberraschung", ["Böse", "Überraschung"]), ("Two  spaces", ["Two", "  ", "spaces"]),
])
def test_camel_split_is_podmans(word, parts):
    assert camel_split(word) == parts


def test_header_names_each_field():
    names = {"ID": "container id", "RunningFor": "running for"}
    assert header("table {{.ID}} {{.Names|upper}} {{.RunningFor}}\\t{{.CreatedAt}}", names) \
        == "CONTAINER ID\tNAMES\tRUNNING FOR\tCREATED AT"
    # functions apply to the header as to a row (podman prints "tag" here)
    assert header("table {{.Repository}} {{.Tag | lower}}", {}) == "REPOSITORY\ttag"
    assert header("table {{.State.Status}}", {"State.Status": "state"}) == "STATE"


def test_align_is_tabwriters_in_podman():
    """podman images --format 'table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}'
    and friends, measured: columns at least 12 wide, 2 of padding, the last
    cell not a column, an empty cell still padded."""
    rows = ["REPOSITORY\tTAG\tDIGEST", "localhost/gt\tlatest\tsha256:1c",
            "localhost/a-much-longer-name/for-table\tv1.2.3\tsha256:1c"]
    assert align(rows) == [
        "REPOSITORY                              TAG         DIGEST",
        "localhost/gt                            latest      sha256:1c",
        "localhost/a-much-longer-name/for-table  v1.2.3      sha256:1c"]
    assert align(["REPOSITORY\ttag\t\txCONTAINERS", "localhost/gt\tlatest\t\tx0"]) == [
        "REPOSITORY    tag                     xCONTAINERS",
        "localhost/gt  latest                  x0"]
    assert align(["A\tB\t", "a\tb\t"]) == ["A           B           ", "a           b           "]


def test_a_line_without_tabs_ends_a_block_of_columns():
    assert align(["aaaaaaaaaaaaaaaaaa\tx", "no tabs", "b\ty"]) == [
        "aaaaaaaaaaaaaaaaaa  x", "no tabs", "b           y"]


def test_a_row_of_several_lines_is_aligned_line_by_line():
    assert align(["H\tI", "a\tb\nlonger-than-twelve\tc"]) == [
        "H                   I", "a                   b", "longer-than-twelve  c"]


def test_the_table_flow_the_cli_uses():
    fmt = "table {{.ID}}\\t{{.Image}}"
    body = parse(normalize(fmt))
    rows = [{"ID": "abc", "Image": "busybox"}, {"ID": "defghi", "Image": "alpine"}]
    lines = align([header(fmt, {"ID": "container id"})] + [body.execute(r) for r in rows])
    assert lines == ["CONTAINER ID  IMAGE", "abc           busybox", "defghi        alpine"]


def test_the_docstring_says_what_is_supported():
    doc = gotemplate.__doc__
    for word in ("Supported", "Not supported", "GoMap", "NilMap", "struct"):
        assert word in doc
    assert gotemplate.__file__.endswith(os.path.join("gotemplate", "__init__.py"))
