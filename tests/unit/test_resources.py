"""linux.resources: parsed into records (runtime/spec.py), translated into
cgroup files for both versions and written (runtime/resources.py)."""
import errno
import os
from types import SimpleNamespace

import pytest

from minirun.errors import ConfigError
from minirun.runtime import resources
from minirun.runtime.spec import (BlockIO, Cpu, DeviceRule, HugepageLimit, Memory, Pids,
                                  Resources, Throttle, WeightDevice, parse_resources)

RES = {"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
       "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1"},
       "pids": {"limit": 20},
       "blockIO": {"weight": 500,
                   "throttleWriteBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}]}}
V1 = {"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer"}


def files(res: dict, v1: set[str]) -> list[tuple]:
    return resources.files(parse_resources(res), v1)


# --- the parser ------------------------------------------------------------------

def test_every_controller_parses_into_its_record():
    res = parse_resources({
        "memory": {"limit": 1 << 30, "swap": -1, "swappiness": 10, "disableOOMKiller": True,
                   "kernel": 5},                                  # unknown: ignored, as before
        "cpu": {"shares": 1024, "quota": -1, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 0},
        "blockIO": {"weight": 100, "leafWeight": 50,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 10}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 20}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
        "unified": {"memory.high": "50M", "pids.max": 7}})
    assert res.memory == Memory(limit=1 << 30, swap=-1, swappiness=10, disable_oom_killer=True)
    assert res.cpu == Cpu(shares=1024, quota=-1, period=100000, cpus="0", mems="0")
    assert res.pids == Pids(limit=0)
    assert res.block_io == BlockIO(
        weight=100, leaf_weight=50, weight_device=(WeightDevice(major=8, minor=0, weight=300),),
        throttle_read_bps_device=(Throttle(major=8, minor=0, rate=10),),
        throttle_write_iops_device=(Throttle(major=8, minor=16, rate=20),))
    assert res.hugepage_limits == (HugepageLimit(page_size="2MB", limit=4 << 20),)
    assert res.devices == (DeviceRule(allow=False),
                           DeviceRule(allow=True, type="c", major=1, minor=3, access="rw"))
    assert res.unified == (("memory.high", "50M"), ("pids.max", "7"))
    assert res.has_limits()


def test_nothing_asked_is_the_empty_record():
    assert parse_resources({}) == Resources()
    assert parse_resources({"memory": {}, "cpu": {"cpus": None}}) == Resources()
    # no rules at all (None) is not an empty list of rules (the defaults only)
    assert Resources().devices is None and parse_resources({"devices": []}).devices == ()
    assert not parse_resources({"devices": [{"allow": False}]}).has_limits()


def test_records_are_frozen():
    res = parse_resources(RES)
    with pytest.raises(AttributeError):
        res.memory.limit = 1


@pytest.mark.parametrize("res, message", [
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 10}]}},
     "linux.resources.blockIO.throttleReadBpsDevice[0].minor: missing"),
    ({"blockIO": {"throttleWriteIOPSDevice": {"major": 8}}},
     "linux.resources.blockIO.throttleWriteIOPSDevice: expected a list, got an object"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": "0"}]}},
     "linux.resources.blockIO.weightDevice[0].minor: expected an integer, got a string"),
    ({"blockIO": {"weight": 1.5}}, "linux.resources.blockIO.weight: expected an integer"),
    ({"memory": {"limit": "1g"}},
     "linux.resources.memory.limit: expected an integer, got a string"),
    ({"memory": {"disableOOMKiller": 1}},
     "linux.resources.memory.disableOOMKiller: expected a boolean, got an integer"),
    ({"memory": []}, "linux.resources.memory: expected an object, got a list"),
    ({"cpu": {"cpus": 3}}, "linux.resources.cpu.cpus: expected a string, got an integer"),
    ({"pids": {"limit": True}}, "linux.resources.pids.limit: expected an integer, got a boolean"),
    ({"hugepageLimits": [{"limit": 1}]}, "linux.resources.hugepageLimits[0].pageSize: missing"),
    ({"hugepageLimits": [{"pageSize": "2MB"}]}, "linux.resources.hugepageLimits[0].limit: missing"),
    ({"hugepageLimits": [{"pageSize": "../../x", "limit": 1}]},   # it names a file
     "linux.resources.hugepageLimits[0].pageSize: '../../x' is not a page size"),
    ({"hugepageLimits": ["2MB"]}, "linux.resources.hugepageLimits[0]: expected an object"),
    ({"devices": [{"allow": True, "type": "x"}]},
     "linux.resources.devices[0].type: 'x' is not a type a device rule names"),
    ({"devices": [{"allow": True, "type": "c", "access": "rwx"}]},
     "linux.resources.devices[0].access: 'rwx'"),
    ({"devices": [{"allow": "yes"}]}, "linux.resources.devices[0].allow: expected a boolean"),
    ({"devices": {"allow": True}}, "linux.resources.devices: expected a list"),
    ({"unified": {"../escape": "1"}}, "linux.resources.unified: `../escape` is not a cgroup file"),
    ({"unified": {"memory.high": ["1"]}},
     "linux.resources.unified.memory.high: expected a string or an integer, got a list"),
    ({"unified": {"memory.high": True}},
     "linux.resources.unified.memory.high: expected a string or an integer, got a boolean"),
    ({"unified": {"memory.high": None}}, "linux.resources.unified.memory.high: missing"),
])
def test_malformed_entries_name_their_json_path(res, message):
    with pytest.raises(ConfigError) as e:
        parse_resources(res)
    assert message in str(e.value)


def test_not_an_object_at_all():
    with pytest.raises(ConfigError, match=r"^linux\.resources: expected an object, got a list"):
        parse_resources([])


# --- the translation ---------------------------------------------------------------

def test_cgroup_v1_files_in_order():
    assert files(RES, V1) == [
        (1, "memory", "memory.limit_in_bytes", "67108864"),
        (1, "memory", "memory.soft_limit_in_bytes", "33554432"),
        (1, "memory", "memory.memsw.limit_in_bytes", "134217728"),  # after the limit
        (1, "cpu", "cpu.shares", "512"),
        (1, "cpu", "cpu.cfs_period_us", "100000"),                  # before the quota
        (1, "cpu", "cpu.cfs_quota_us", "50000"),
        (1, "cpuset", "cpuset.cpus", "0-1"),
        (1, "pids", "pids.max", "20"),
        (1, "blkio", "blkio.weight", "500"),
        (1, "blkio", "blkio.throttle.write_bps_device", "7:0 1048576")]


def test_cgroup_v2_files():
    assert files(RES, set()) == [
        (2, "memory", "memory.max", "67108864"),
        (2, "memory", "memory.low", "33554432"),
        (2, "memory", "memory.swap.max", "67108864"),     # OCI's memory+swap, less memory
        (2, "cpu", "cpu.weight", "20"),
        (2, "cpu", "cpu.max", "50000 100000"),
        (2, "cpuset", "cpuset.cpus", "0-1"),
        (2, "pids", "pids.max", "20"),
        (2, "io", "io.weight", "default 4950"),
        (2, "io", "io.max", "7:0 wbps=1048576")]


def test_a_hybrid_host_splits_by_controller():
    got = files({"memory": {"limit": 1 << 20}, "hugepageLimits": [
        {"pageSize": "2MB", "limit": 4 << 20}]}, V1)
    assert got == [(1, "memory", "memory.limit_in_bytes", "1048576"),
                   (2, "hugetlb", "hugetlb.2MB.max", "4194304")]


def test_device_rules_then_the_defaults_on_v1():
    got = files({"devices": [{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "b", "major": 7, "access": "r"}]}, V1)
    assert got[:4] == [(1, "devices", "devices.deny", "a"),
                       (1, "devices", "devices.allow", "b 7:* r"),
                       (1, "devices", "devices.allow", "c *:* m"),
                       (1, "devices", "devices.allow", "b *:* m")]
    assert (1, "devices", "devices.allow", "c 136:* rwm") in got
    assert len(got) == 2 + len(resources.DEFAULT_RULES)
    assert files({}, V1) == []                          # no rules: the devices stay as they are
    assert files({"devices": []}, set()) == []          # v2: the eBPF filter, not files


def test_conversions_at_their_ends():
    assert resources.cpu_weight(2) == 1 and resources.cpu_weight(262144) == 10000
    assert resources.cpu_weight(1024) == 39                      # the default share
    assert resources.io_weight(10) == 1 and resources.io_weight(1000) == 10000


def test_unlimited_and_raw_keys():
    got = files({"pids": {"limit": -1}, "memory": {"limit": -1, "swap": -1},
                 "unified": {"memory.high": "50M"}}, set())
    assert (2, "pids", "pids.max", "max") in got
    assert (2, "memory", "memory.max", "max") in got
    assert (2, "memory", "memory.swap.max", "max") in got
    assert (2, "memory", "memory.high", "50M") in got
    with pytest.raises(ConfigError, match="cgroup v1 hierarchy"):
        files({"unified": {"memory.high": "1"}}, V1)


def test_disable_oom_killer_is_not_translated_for_the_version_that_lacks_the_controller():
    # memory in a v1 hierarchy (this host): the v2 spelling is never asked for
    got = files({"memory": {"limit": 1 << 20, "disableOOMKiller": True}}, V1)
    assert (1, "memory", "memory.oom_control", "1") in got
    # memory in v2: there is no way to say it, and the error names the field
    with pytest.raises(ConfigError, match=r"linux\.resources\.memory\.disableOOMKiller"):
        files({"memory": {"disableOOMKiller": True}}, set())


def test_no_translation_is_asked_of_the_version_that_lacks_the_controller(monkeypatch):
    asked = []

    def fake(version, name):
        return name and (lambda res: asked.append((version, name)) or [])
    monkeypatch.setattr(resources, "CONTROLLERS", tuple(
        (v1, fake(1, v1), v2, fake(2, v2)) for v1, _, v2, _ in resources.CONTROLLERS))
    resources.files(Resources(), {"memory", "devices"})
    assert asked == [(1, "devices"), (1, "memory"), (2, "cpu"), (2, "cpuset"), (2, "pids"),
                     (2, "io"), (2, "hugetlb")]


# --- writing them: against a fake kernel seam ---------------------------------------

class Cgroups:
    """k.cgroups for one container: a v1 tree per controller in ``v1``, a
    v2 group for the rest; records what is written where."""

    def __init__(self, v1: set[str], current: dict | None = None, refuse: dict | None = None):
        self.v1, self.current, self.refuse = v1, current or {}, refuse or {}
        self.writes, self.enabled = [], []

    def holders(self, leaves):
        return {**{c: f"/v1/{c}/ctr" for c in self.v1}, "v2": "/v2/minirun/ctr"}

    def v1_controllers(self):
        return set(self.v1)

    def read(self, directory, name):
        return self.current.get(name)

    def enable(self, directory, controller, top):
        self.enabled.append(controller)

    def write(self, directory, name, value):
        if name in self.refuse:
            raise self.refuse[name]
        self.writes.append((directory, name, value))


def seam(cgroups: Cgroups) -> SimpleNamespace:
    attached = []
    return SimpleNamespace(cgroups=cgroups, attached=attached,
                           bpf=SimpleNamespace(attach_device_filter=lambda d, rules:
                                               attached.append((d, rules))),
                           idmap=SimpleNamespace(in_user_namespace=lambda: False))


def apply(k, res: dict) -> None:
    resources.apply(k, parse_resources(res), ["/leaves"])


def test_nothing_asked_touches_nothing():
    k = seam(Cgroups(V1))
    apply(k, {})
    assert k.cgroups.writes == [] and k.attached == []


def test_raising_memory_and_swap_on_v1_writes_the_larger_swap_first():
    both = {"memory": {"limit": 256 << 20, "swap": 512 << 20}}
    k = seam(Cgroups({"memory"}, current={"memory.memsw.limit_in_bytes": str(128 << 20)}))
    apply(k, both)
    assert [w[1] for w in k.cgroups.writes] == ["memory.memsw.limit_in_bytes",
                                                "memory.limit_in_bytes"]
    k = seam(Cgroups({"memory"}, current={"memory.memsw.limit_in_bytes": str(1 << 30)}))
    apply(k, both)                                            # lowering: the limit first
    assert [w[1] for w in k.cgroups.writes] == ["memory.limit_in_bytes",
                                                "memory.memsw.limit_in_bytes"]


def test_v2_controllers_are_enabled_and_written_in_the_v2_group():
    k = seam(Cgroups(set()))
    apply(k, {"pids": {"limit": 5}, "memory": {"limit": 1 << 20}})
    assert k.cgroups.enabled == ["memory", "pids"]
    assert k.cgroups.writes == [("/v2/minirun/ctr", "memory.max", "1048576"),
                                ("/v2/minirun/ctr", "pids.max", "5")]


@pytest.mark.skipif(os.geteuid() != 0, reason="the v2 device filter is attached as root only")
def test_v2_device_rules_become_the_filter_with_the_defaults():
    k = seam(Cgroups({"memory"}))
    apply(k, {"devices": [{"allow": False, "access": "rwm"}]})
    (directory, rules), = k.attached
    assert directory == "/v2/minirun/ctr"
    assert rules[0] == {"allow": False, "type": "a", "major": None, "minor": None,
                        "access": "rwm"}
    assert rules[1:] == resources.DEFAULT_DEVICES
    k = seam(Cgroups({"devices"}))                        # a v1 devices controller: files
    apply(k, {"devices": [{"allow": False, "access": "rwm"}]})
    assert k.attached == [] and k.cgroups.writes[0] == ("/v1/devices/ctr", "devices.deny", "a")


def test_blkio_weight_falls_back_to_bfq():
    k = seam(Cgroups({"blkio"}, refuse={"blkio.weight": FileNotFoundError(errno.ENOENT, "")}))
    apply(k, {"blockIO": {"weight": 300}})
    assert k.cgroups.writes == [("/v1/blkio/ctr", "blkio.bfq.weight", "300")]


def test_what_the_kernel_refuses_is_one_clear_error():
    k = seam(Cgroups({"pids"}, refuse={"pids.max": OSError(errno.EINVAL, "Invalid argument")}))
    with pytest.raises(ConfigError, match=r"^linux\.resources: the kernel refused pids\.max "
                                          r"= '5' \(Invalid argument\)$"):
        apply(k, {"pids": {"limit": 5}})


def test_a_controller_the_host_lacks_is_named():
    k = seam(Cgroups(set()))
    k.cgroups.holders = lambda leaves: {}
    with pytest.raises(ConfigError, match="no pids controller on this host"):
        apply(k, {"pids": {"limit": 5}})
