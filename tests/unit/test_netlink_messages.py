"""kernel/netlink loads pyroute2's message classes without its package
__init__ (which imports every subsystem: ~200 ms a container start would
pay), and they encode what rtnetlink expects."""
import subprocess
import sys

PROBE = r"""
import socket, struct, sys
from minirun.kernel import netlink
link = netlink._link([("IFLA_IFNAME", "mr0")], 7, up=True)
link["header"]["type"] = netlink.RTM_NEWLINK
link.encode()
length, kind = struct.unpack_from("=IH", link.data)
family, _, _, index, flags, change = struct.unpack_from("=BBHiII", link.data, 16)
print(length == len(link.data), kind, index, flags, change, b"mr0\0" in link.data)
print(sorted(m for m in ("pyroute2.ndb", "pyroute2.ipdb", "asyncio") if m in sys.modules))
"""


def test_messages_without_the_whole_package():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                       check=True)
    first, second = r.stdout.splitlines()
    assert first == "True 16 7 1 1 True"
    assert second == "[]"          # none of the subsystems we do not use
