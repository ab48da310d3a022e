"""UTS names: the hostname and NIS domain name a UTS namespace reports.

See: uts_namespaces(7), sethostname(2), setdomainname(2)
"""
from minirun import explain
from minirun.kernel._native import check, lib


def sethostname(name: str) -> None:
    explain.say(f'sethostname("{name}")')
    data = name.encode()
    check(lib.sethostname(data, len(data)), "sethostname", name)


def setdomainname(name: str) -> None:
    explain.say(f'setdomainname("{name}")')
    data = name.encode()
    check(lib.setdomainname(data, len(data)), "setdomainname", name)
