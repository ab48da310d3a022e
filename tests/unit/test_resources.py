"""linux.resources -> cgroup files, for both versions (runtime/resources.py)."""
import pytest

from minirun.errors import ConfigError
from minirun.runtime import resources

RES = {"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
       "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1"},
       "pids": {"limit": 20},
       "blockIO": {"weight": 500,
                   "throttleWriteBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}]}}
V1 = {"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer"}


def test_cgroup_v1_files_in_order():
    assert resources.files(RES, V1) == [
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
    assert resources.files(RES, set()) == [
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
    got = resources.files({"memory": {"limit": 1 << 20}, "hugepageLimits": [
        {"pageSize": "2MB", "limit": 4 << 20}]}, V1)
    assert got == [(1, "memory", "memory.limit_in_bytes", "1048576"),
                   (2, "hugetlb", "hugetlb.2MB.max", "4194304")]


def test_conversions_at_their_ends():
    assert resources.cpu_weight(2) == 1 and resources.cpu_weight(262144) == 10000
    assert resources.cpu_weight(1024) == 39                      # the default share
    assert resources.io_weight(10) == 1 and resources.io_weight(1000) == 10000


def test_unlimited_and_raw_keys():
    got = resources.files({"pids": {"limit": -1}, "memory": {"limit": -1, "swap": -1},
                           "unified": {"memory.high": "50M"}}, set())
    assert (2, "pids", "pids.max", "max") in got
    assert (2, "memory", "memory.max", "max") in got
    assert (2, "memory", "memory.swap.max", "max") in got
    assert (2, "memory", "memory.high", "50M") in got
    with pytest.raises(ConfigError, match="not a cgroup file name"):
        resources.files({"unified": {"../escape": "1"}}, set())
    with pytest.raises(ConfigError, match="cgroup v1 hierarchy"):
        resources.files({"unified": {"memory.high": "1"}}, V1)


def test_disable_oom_killer_is_not_translated_for_the_version_that_lacks_the_controller():
    # memory in a v1 hierarchy (this host): the v2 spelling is never asked for
    got = resources.files({"memory": {"limit": 1 << 20, "disableOOMKiller": True}}, V1)
    assert (1, "memory", "memory.oom_control", "1") in got
    # memory in v2: there is no way to say it, and the error names the field
    with pytest.raises(ConfigError, match=r"memory\.disableOOMKiller"):
        resources.files({"memory": {"disableOOMKiller": True}}, set())


@pytest.mark.parametrize("res, path", [
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 10}]}},
     r"blockIO\.throttleReadBpsDevice\[0\]\.minor: missing"),
    ({"memory": {"limit": "1g"}}, r"memory\.limit: expected an integer"),
    ({"memory": []}, r"linux\.resources\.memory: expected an object"),
    ({"hugepageLimits": [{"limit": 1}]}, r"hugepageLimits\[0\]\.pageSize"),
    ({"pids": {"limit": True}}, r"pids\.limit: expected an integer"),
])
def test_malformed_entries_name_their_json_path(res, path):
    for v1 in (V1, set()):
        with pytest.raises(ConfigError, match=path):
            resources.files(res, v1)
