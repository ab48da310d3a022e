"""minirun build vs buildah build (as root, each with its default storage
and network): the same Containerfile (a Debian base, three RUNs, a COPY of
a thousand small files, a final stage that copies the result), built cold
(--no-cache) and again with the cache, alternating, in one run.

    BENCH_RUNS=3 .venv/bin/python bench/run.py build

Last line: ``ratio build minirun/buildah = R`` (cold, medians).
"""
import os
import shutil
import subprocess
import sys

from statistics import median

from bench.common import BIN, REPO, alternate, timed, workdir

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
FILES = 1000
CONTAINERFILE = """\
FROM {base} AS build
RUN mkdir -p /opt/app && echo one > /opt/app/one
RUN for i in $(seq 200); do echo line $i; done > /opt/app/lines
COPY files/ /opt/app/files/
RUN ls /opt/app/files | wc -l > /opt/app/count
FROM {base}
COPY --from=build /opt/app /opt/app
CMD ["cat", "/opt/app/count"]
"""


def _debian_layout() -> str:
    layout = os.path.join(REPO, ".build", "images", "debian")
    if not os.path.exists(os.path.join(layout, "index.json")):
        subprocess.run(["make", "-C", REPO, ".build/images/debian/index.json"], check=True)
    return layout


def _context(work: str, base: str) -> str:
    ctx = os.path.join(work, f"ctx-{base.split('/')[0]}")
    os.makedirs(os.path.join(ctx, "files"))
    for i in range(FILES):
        with open(os.path.join(ctx, "files", f"f{i:04}.txt"), "w") as f:
            f.write(f"small file {i}\n")
    with open(os.path.join(ctx, "Containerfile"), "w") as f:
        f.write(CONTAINERFILE.format(base=base))
    return ctx


def main() -> None:
    if os.geteuid() != 0 or not shutil.which("buildah"):
        print("build: skipped (needs root and buildah: apt-get install buildah)")
        return
    work = workdir("build-")
    layout = _debian_layout()
    mr = [os.path.join(BIN, "minirun"), "--root", os.path.join(work, "store")]
    subprocess.run(mr + ["load", "-q", "-i", layout], check=True, capture_output=True)
    mr_base = subprocess.run(mr + ["images", "--format", "{{.Repository}}:{{.Tag}}"],
                             check=True, capture_output=True, text=True).stdout.split()[0]
    bh = ["buildah", "--root", os.path.join(work, "bh-root"),
          "--runroot", os.path.join(work, "bh-run")]
    link = os.path.join("/tmp", os.path.basename(work) + "-debian")   # (buildah names an
    os.symlink(layout, link)               # oci: image by its path: no ".build" in it)
    subprocess.run(bh + ["pull", "-q", f"oci:{link}"], check=True, capture_output=True)
    os.unlink(link)
    bh_base = subprocess.run(bh + ["images", "--format", "{{.ID}}"], check=True,
                             capture_output=True, text=True).stdout.split()[0]
    mr_ctx, bh_ctx = _context(work, mr_base), _context(work, bh_base)
    try:
        cold = alternate(RUNS, {
            "minirun": lambda i: timed(mr + ["build", "--no-cache", "-t", "b", mr_ctx]),
            "buildah": lambda i: timed(bh + ["build", "--layers", "--no-cache", "-t", "b",
                                             bh_ctx]),
        }, warmup=1)
        cached = alternate(RUNS, {
            "minirun": lambda i: timed(mr + ["build", "-t", "b", mr_ctx]),
            "buildah": lambda i: timed(bh + ["build", "--layers", "-t", "b", bh_ctx]),
        }, warmup=1)
        made = subprocess.run(mr + ["run", "--rm", "--network", "none", "b"],
                              capture_output=True, text=True).stdout.strip()
        if made != str(FILES):      # (a fast build of the wrong thing measures nothing)
            sys.exit(f"bench: minirun's image counts {made!r} files, not {FILES}")
    finally:
        subprocess.run(bh + ["rmi", "-af"], capture_output=True)
        subprocess.run(mr + ["rmi", "-af"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    for what, times in (("cold", cold), ("cached", cached)):
        m, b = median(times["minirun"]), median(times["buildah"])
        print(f"{what:7} minirun {m:6.2f} s   buildah {b:6.2f} s   ratio {m / b:.2f}")
    print(f"ratio build cached minirun/buildah = "
          f"{median(cached['minirun']) / median(cached['buildah']):.2f}")
    print(f"ratio build minirun/buildah = "
          f"{median(cold['minirun']) / median(cold['buildah']):.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
