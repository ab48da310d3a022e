"""The container spec (engine/containers/spec.py) and the bundle builder's
purity (engine/containers/bundle.build): one set of checks for the CLI and
the API, and a config made without writing anything."""
import os

import pytest

from minirun.engine.containers import bundle
from minirun.engine.containers.spec import OPTIONS, ContainerSpec, make
from minirun.errors import MiniRunError


def test_make_takes_the_flags_words_and_freezes_them():
    spec = make("busybox", ["sh", "-c", "true"], memory="64m", volume=["data:/data"],
                network="none", security_opt=["no-new-privileges"], label=["a=b"])
    assert isinstance(spec, ContainerSpec)
    assert spec.command == ("sh", "-c", "true") and spec.volumes == ("data:/data",)
    assert spec.resources == {"memory": {"limit": 64 << 20}}
    assert spec.no_new_privileges and spec.labels == {"a": "b"} and spec.network == "none"
    with pytest.raises(AttributeError):
        spec.image = "other"
    with pytest.raises(TypeError):
        ContainerSpec("busybox")                         # by keyword only
    assert spec._replace(tty=True).tty and not spec.tty


@pytest.mark.parametrize("options, message", [
    ({"memmory": "1g"}, "unknown container option(s) memmory"),
    ({"memory": "lots"}, "--memory"),
    ({"security_opt": ["apparmor=x"]}, "--security-opt apparmor=x"),
    ({"userns": "auto"}, "--userns auto"),
    ({"label": ["novalue"]}, "KEY=VALUE"),
    ({"name": "a b"}, "container name 'a b' invalid"),
    ({"volume": ["relative:dir"]}, "relative:dir"),
    ({"dns": ["not-an-ip"]}, "--dns not-an-ip"),
    ({"network": "none", "network_bandwidth": "1mbit"}, "--network-bandwidth"),
    ({"env_file": ["/nonexistent/env"]}, "--env-file /nonexistent/env"),
])
def test_bad_options_are_one_error_naming_the_flag(options, message):
    with pytest.raises(MiniRunError) as e:
        make("busybox", (), **options)
    assert message in str(e.value)


def test_every_option_has_a_default_the_cli_shares():
    from minirun.cli.hot import CREATE_FLAGS
    flags = {f.dest: f for f in CREATE_FLAGS}
    for word, default in OPTIONS.items():
        assert word in flags, f"{word}: not a flag of run/create"
        cli_default = flags[word].default
        if flags[word].kind == "many":
            cli_default = ()
        elif flags[word].kind == "bool":
            cli_default = bool(cli_default)
        assert cli_default == default, word


def test_the_builder_writes_nothing_and_changes_nothing(tmp_path):
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                          "app:x:1000:1000::/home/app:/bin/sh\n")
    (layer / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    directory, volumes = tmp_path / "ctr", tmp_path / "volumes"
    spec = make("busybox", ["id"], user="app", volume=["named:/data"], network="none",
                mount=["type=volume,target=/anon"], tmpfs=["/t:size=1m"])
    image = {"Env": ["PATH=/bin"], "Volumes": {"/image-vol": {}}, "StopSignal": "SIGINT"}
    before = sorted(os.listdir(tmp_path))
    made = bundle.build(spec, image, [str(layer)], cid="c" * 64, directory=str(directory),
                        volume_dir=str(volumes))
    assert sorted(os.listdir(tmp_path)) == before           # no file, no volume made
    assert spec == make("busybox", ["id"], user="app", volume=["named:/data"], network="none",
                        mount=["type=volume,target=/anon"], tmpfs=["/t:size=1m"])
    assert image == {"Env": ["PATH=/bin"], "Volumes": {"/image-vol": {}}, "StopSignal": "SIGINT"}
    process = made.config["process"]
    assert process["user"]["uid"] == 1000 and "HOME=/home/app" in process["env"]
    names = dict((dest, name) for name, dest in made.volumes)
    assert names["/data"] == "named" and set(made.anonymous) == {"/anon", "/image-vol"}
    assert made.stop_signal == "SIGINT"
    again = bundle.build(spec, image, [str(layer)], cid="c" * 64, directory=str(directory),
                         volume_dir=str(volumes))
    assert again == made                                     # a function of its inputs
