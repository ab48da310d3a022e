"""The network room stays readable (issue 15, module sizes): each module
under 400 lines with a docstring saying what it holds, and every module
named in the room's reading order (network/__init__.py)."""
import ast
import os

import minirun.engine.network as room

ROOM = os.path.dirname(room.__file__)
MODULES = sorted(f for f in os.listdir(ROOM) if f.endswith(".py") and f != "__init__.py")


def test_each_module_is_short_and_says_what_it_holds():
    for name in MODULES:
        with open(os.path.join(ROOM, name)) as f:
            text = f.read()
        assert text.count("\n") < 400, f"{name}: {text.count(chr(10))} lines; split it by concern"
        assert ast.get_docstring(ast.parse(text)), f"{name} has no docstring"


def test_the_reading_order_names_every_module():
    listed = [line.split()[0] for line in room.__doc__.splitlines()
              if line.split() and line.split()[0].endswith(".py")]
    assert sorted(listed) == MODULES


def test_a_containers_interface_names_never_meet():
    """The first network's host side and each further one's differ for every
    id, also where the id's 11th character is the further network's number
    (a container connected to a second network once failed with 'File
    exists': its eth1's host side had its eth0's name); all fit in 15 bytes."""
    from minirun.engine.network import connect, modes
    for cid in ("dd093f81971" + "0" * 53, "abcdef0123" + "2" + "f" * 53):
        names = [modes.host_interface(cid)] + [connect.extra_interface(cid, n)
                                                for n in range(1, 100)]
        assert len(set(names)) == len(names), names
        assert max(len(n) for n in names) <= 15
