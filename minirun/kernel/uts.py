"""UTS names: the hostname and NIS domain name a UTS namespace reports.

Why (``--explain`` prints the item under the call):

- hostname: the container's own name, in its own UTS namespace: the host's
  name does not change (sethostname(2), uts_namespaces(7))
- domainname: the NIS domain name the config asks for, in the container's
  UTS namespace only (setdomainname(2))

See: uts_namespaces(7), sethostname(2), setdomainname(2)
"""
from minirun import explain
from minirun.kernel._native import check, lib


def sethostname(name: str) -> None:
    explain.say(f'sethostname("{name}")', why="hostname")
    data = name.encode()
    check(lib.sethostname(data, len(data)), "sethostname", name)


def setdomainname(name: str) -> None:
    explain.say(f'setdomainname("{name}")', why="domainname")
    data = name.encode()
    check(lib.setdomainname(data, len(data)), "setdomainname", name)
