#!/bin/bash
# The real-card tests (tests/gpu/test_real_card.py) on a machine with an
# NVIDIA GPU that has neither this project's packages nor a network: its
# own Python (3.12), no Debian packages, root.
#
#   tests/gpu/on-a-card.sh prepare   here: wheels for Python 3.12 (minirun's
#                                    own, built with its C half, and what it
#                                    needs), newuidmap/newgidmap and their
#                                    libraries, into .devgpu/ (git-ignored)
#   tests/gpu/on-a-card.sh run       there, as root, with .devgpu/ and
#                                    .build/busybox carried: installs them
#                                    into a venv beside the machine's own
#                                    packages, makes the test user, prints
#                                    what the driver looks like, and runs
#                                    the real-card tests as root and rootless,
#                                    then bench/gpu.py on the real driver
set -euo pipefail
cd "$(dirname "$0")/../.."
DEV=.devgpu
PY=3.12

prepare() {
    rm -rf "$DEV" && mkdir -p "$DEV/whl" "$DEV/lib"
    grep -qx "/$DEV/" .git/info/exclude 2>/dev/null || echo "/$DEV/" >> .git/info/exclude
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version $PY \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$DEV/whl" \
        cffi pycparser zstandard indexed_gzip "pyroute2<1" pexpect ptyprocess \
        click urllib3 tqdm PyYAML
    local src; src=$(mktemp -d)
    git clone -q . "$src"
    "$(pyenv root)/versions/$(pyenv versions --bare | grep "^$PY" | tail -1)/bin/python" \
        -m pip wheel -q --no-deps -w "$DEV/whl" "$src"
    rm -rf "$src"
    cp /usr/bin/newuidmap /usr/bin/newgidmap "$DEV/"
    cp "$(command -v catatonit)" "$DEV/"      # static: the pool's idle pid 1
    for lib in $(ldd /usr/bin/newuidmap minirun/_native*.so | awk '/=> \//{print $3}' | sort -u); do
        case $(basename "$lib") in libc.so*|libz.so*) ;; *) cp -L "$lib" "$DEV/lib/" ;; esac
    done
    [ -x .build/busybox/rootfs/bin/busybox ] || rootfs-tools/busybox-rootfs .build/busybox/rootfs
    du -sh "$DEV" .build/busybox
}

run() {
    set -x +e
    command -v python3; python3 -V; uname -r; nvidia-smi -L; ls -la /dev/nvidia* || true
    cat /proc/driver/nvidia/version || true; ls /sys/module/nvidia 2>&1 | head -3 || true
    ldconfig -p | grep -E 'libcuda\.|libnvidia-ml\.' || echo "the driver's libraries are not in ld.so.cache"
    which nvidia-smi nvidia-ctk gcc runuser useradd newuidmap || true
    grep -E 'overlay|fuse' /proc/filesystems || true
    mount | grep -E ' /sys/fs/cgroup' || true
    set +x -e
    # C libraries the machine lacks (never replace one it has)
    mkdir -p /usr/local/lib/minirun-devgpu
    for lib in "$DEV"/lib/*; do
        ldconfig -p | grep -q "$(basename "$lib")" || cp "$lib" /usr/local/lib/minirun-devgpu/
    done
    echo /usr/local/lib/minirun-devgpu > /etc/ld.so.conf.d/minirun-devgpu.conf && ldconfig
    for tool in newuidmap newgidmap; do
        command -v $tool >/dev/null || install -m 4755 "$DEV/$tool" /usr/bin/$tool
    done
    command -v catatonit >/dev/null || install -m 755 "$DEV/catatonit" /usr/local/bin/catatonit
    id minirun-test >/dev/null 2>&1 || useradd -m minirun-test
    grep -q '^minirun-test:' /etc/subuid 2>/dev/null || echo minirun-test:200000:65536 >> /etc/subuid
    grep -q '^minirun-test:' /etc/subgid 2>/dev/null || echo minirun-test:200000:65536 >> /etc/subgid
    # a venv of the machine's python3, which may itself be a venv's (whose
    # packages, pytest among them, --system-site-packages would not see)
    python3 -m venv /tmp/v
    python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
        > "$(/tmp/v/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz-machine.pth"
    /tmp/v/bin/pip install -q --no-index --no-deps --force-reinstall "$DEV"/whl/*.whl
    python3 -c 'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); [open("minirun/"+n.split("/")[-1],"wb").write(z.read(n)) for n in z.namelist() if "_native" in n and n.endswith(".so")]' "$DEV"/whl/minirun-*.whl
    chmod 755 /tmp/v /tmp/v/bin
    set -x +e
    /tmp/v/bin/minirun info | grep -iA6 gpu
    /tmp/v/bin/minirun cdi generate | head -60
    /tmp/v/bin/minirun cdi list
    set +x -e
    export PYTHONUNBUFFERED=1
    local rc=0
    /tmp/v/bin/python -m pytest -p no:cacheprovider -v -rs tests/gpu/test_real_card.py "$@" || rc=$?
    # what the real driver adds to a start (bench/gpu.py, the driver root "/")
    MINIRUN_DRIVER_ROOT=/ BENCH_RUNS=${BENCH_RUNS:-10} /tmp/v/bin/python bench/run.py gpu || rc=$?
    return $rc
}

"${1:?prepare or run}" "${@:2}"
