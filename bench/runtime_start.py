"""runtime_start: `minirun-oci run` against `runc run`, same bundle, same
command (`true`), alternating, as root.  Last line: ratio minirun/runc = R."""
import json
import os
import shutil
import subprocess
import sys

from bench.common import BIN, REPO, alternate, report, timed, workdir

RUNS = int(os.environ.get("BENCH_RUNS", "30"))


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench runtime_start: runs as root (runc needs it for this bundle)")
    runc = shutil.which("runc")
    if runc is None:
        sys.exit("bench runtime_start: runc is not installed (scripts/setup-host installs it)")
    sys.path.insert(0, REPO)
    from minirun.runtime.defaults import default_config
    work = workdir("runtime-start-")
    try:
        subprocess.run(["cp", "-a", os.path.join(REPO, ".build", "busybox", "rootfs"),
                        os.path.join(work, "rootfs")], check=True)
        config = default_config()
        config["process"].update(args=["true"], terminal=False)
        with open(os.path.join(work, "config.json"), "w") as f:
            json.dump(config, f)
        oci = os.path.join(BIN, "minirun-oci")
        roots = {"minirun": os.path.join(work, "minirun-state"),
                 "runc": os.path.join(work, "runc-state")}
        times = alternate(RUNS, {
            "minirun": lambda i: timed([oci, "--root", roots["minirun"], "run", "--bundle", work,
                                        f"b{i}"]),
            "runc": lambda i: timed([runc, "--root", roots["runc"], "run", "--bundle", work,
                                     f"b{i}"]),
        })
        m = report(times)
        print(f"ratio minirun/runc = {m['minirun'] / m['runc']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
