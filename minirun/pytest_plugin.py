"""minirun's pytest plugin: isolated jobs (GPU jobs among them) in warm
containers, with each job's cost in the test report.

Installing minirun makes it available (the ``pytest11`` entry point); it
does nothing until a test uses it::

    @pytest.mark.minirun(image="busybox", memory="64m", gpus=1)
    def test_job(minirun_job):
        r = minirun_job(["sh", "-c", "echo hi"])
        assert r.exit_code == 0 and r.stdout == "hi\\n"

    def test_service(minirun_container):
        c = minirun_container("busybox", ["sleep", "60"], network="none")
        assert c.exec(["true"]).exit_code == 0        # removed after the test

``minirun_job`` runs commands in a warm pool (minirun.Pool) made from the
test's ``minirun`` marker; pools are kept per worker process for the
session, one per (image, options), so under pytest-xdist no two workers
share a container.  Each job's Result is attached to the report: as
``minirun.*`` user properties (JUnit XML ``<property>``s) and as a
"minirun" section (``-rA``).  ``--minirun-root DIR`` chooses the store.
"""
import pytest


def pytest_addoption(parser) -> None:
    parser.addoption("--minirun-root", default=None,
                     help="minirun's store for the minirun_job and minirun_container "
                          "fixtures (default: minirun's own)")
    parser.addoption("--minirun-pool-size", type=int, default=2,
                     help="warm containers per pool (default 2)")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "minirun(image, **options): the container the minirun_job fixture runs "
                   "commands in (options as minirun.run's: memory=, cpus=, gpus=, ...)")


class _Pools:
    """This process's pools, one per (image, options), closed at the end."""

    def __init__(self, root: str | None, size: int):
        self.root, self.size, self.pools = root, size, {}

    def get(self, image: str, options: dict):
        key = (image, repr(sorted(options.items())))
        if key not in self.pools:
            import minirun
            self.pools[key] = minirun.Pool(image, size=self.size, root=self.root, **options)
        return self.pools[key]

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()


@pytest.fixture(scope="session")
def _minirun_pools(request):
    pools = _Pools(request.config.getoption("--minirun-root"),
                   request.config.getoption("--minirun-pool-size"))
    yield pools
    pools.close()


@pytest.fixture
def minirun_job(request, _minirun_pools):
    """``run(command, **job_options) -> minirun.Result`` in a warm container
    made as the test's ``@pytest.mark.minirun(image=..., **options)`` says."""
    marker = request.node.get_closest_marker("minirun")
    if marker is None or "image" not in marker.kwargs:
        raise pytest.UsageError(f"{request.node.nodeid}: minirun_job needs "
                                "@pytest.mark.minirun(image=..., ...)")
    options = dict(marker.kwargs)
    pool = _minirun_pools.get(options.pop("image"), options)

    def run(command, **job_options):
        result = pool.run(command, **job_options)
        _record(request.node, result)
        return result
    return run


@pytest.fixture
def minirun_container(request):
    """``start(image, command=(), **options) -> minirun.Container``, started;
    every container it started is removed after the test."""
    import minirun
    made = []

    def start(image: str, command=(), **options):
        c = minirun.Container(image, command, root=request.config.getoption("--minirun-root"),
                              **options)
        made.append(c)
        return c.start()
    yield start
    for c in made:
        c.remove()


def _record(item, result) -> None:
    """The job's figures on the report: user properties and a section."""
    n = sum(1 for name, _ in item.user_properties if name == "minirun.exit_code")
    prefix = "minirun." if n == 0 else f"minirun.{n}."
    for field in ("exit_code", "oom_killed", "duration", "cpu_seconds", "peak_memory",
                  "io_read", "io_write"):
        item.user_properties.append((prefix + field, getattr(result, field)))
    item.add_report_section("call", "minirun", (
        f"job {n}: exit {result.exit_code}, {result.duration * 1000:.1f} ms, cpu "
        f"{result.cpu_seconds} s, peak memory {result.peak_memory} B, oom "
        f"{result.oom_killed}, io {result.io_read}/{result.io_write} B"))
