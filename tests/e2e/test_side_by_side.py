"""podman and minirun side by side (issue 18): every case of
tests/e2e/side_by_side.py, as root and as the test user.

A case that differs today is in side_by_side.DIFFERS_TODAY, with the
difference: it is marked xfail(strict), so that the suite passes now and a
case that comes to agree with podman fails (XPASS) until its entry goes.

    .venv/bin/python -m pytest -q tests/e2e/test_side_by_side.py -k 'root-ps'
"""
import shutil

import pytest

from tests.conftest import is_root, unprivileged_user
from tests.e2e.side_by_side import CASES, Pair, known_difference

pytestmark = pytest.mark.podman

MODES = ("root", "rootless")


def _params():
    for mode in MODES:
        for case in CASES:
            marks = [getattr(pytest.mark, mode)]
            reason = known_difference(case.name, mode)
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            yield pytest.param(mode, case, id=f"{mode}-{case.name}", marks=marks)


@pytest.fixture(scope="session")
def pairs():
    """podman and minirun stores with busybox loaded, one pair per mode, made
    when the first case of that mode runs (the other mode's is closed)."""
    made: dict[str, Pair | Exception] = {}

    def get(mode: str) -> Pair:
        if mode not in made:
            for other in [m for m in made if isinstance(made[m], Pair)]:
                made.pop(other).close()
            try:
                made[mode] = Pair(rootless=mode == "rootless")
            except (RuntimeError, OSError) as e:     # said once per case, not retried
                made[mode] = e
        if isinstance(made[mode], Exception):
            pytest.fail(f"could not set up podman and minirun ({mode}): {made[mode]}")
        return made[mode]

    yield get
    for pair in made.values():
        if isinstance(pair, Pair):
            pair.close()


@pytest.mark.parametrize("mode,case", list(_params()))
def test_same_as_podman(pairs, mode, case):
    if not is_root():
        pytest.skip("the side-by-side runs as root (the rootless cases switch to the test user)")
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: run scripts/setup-host as root")
    if mode == "rootless" and unprivileged_user() is None:
        pytest.skip("no test user: run scripts/setup-host as root")
    if mode == "rootless" and case.root_only:
        pytest.skip(case.root_only)
    outcome = pairs(mode).run(case)
    if not outcome.same:
        pytest.fail(f"{case.name} ({mode}) differs from podman: {outcome.diff}", pytrace=False)
