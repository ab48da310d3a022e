#!/bin/sh
# Set up a machine for the course (the Vagrantfile runs this; so can you, on
# any Debian 12 machine).  As root; safe to run again.
#   course/provision.sh [REPO [USER]]
# REPO: the minirun checkout (default: the one holding this script).
# USER: the student's account (default: vagrant); made if it is missing.
# It says what it did and what it skipped, and why.
set -eu
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
user=${2:-vagrant}
[ "$(id -u)" = 0 ] || { echo "provision: run me as root (sudo $0)" >&2; exit 1; }
[ -x "$repo/scripts/setup-host" ] || { echo "provision: no minirun checkout at $repo" >&2; exit 1; }

did=""; skipped=""
done_() { did="$did
  - $*"; echo "provision: $*"; }
skip() { skipped="$skipped
  - $*"; echo "provision: skipped: $*"; }
# systemd as PID 1 (a booted machine), or not (a container, a chroot)
if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  systemd=yes
else
  systemd=no
fi

# 1. Packages, and the unprivileged user the root checks switch to
#    (minirun-test, with subordinate ids): the repository's own set-up.
"$repo/scripts/setup-host"
done_ "packages for minirun and its tests: scripts/setup-host"

# 2. The student's account, with subordinate ids of its own (rootless
#    levels): a range after every range already given, unless it has one.
if ! id "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$user"
  done_ "created the user $user"
fi
home=$(getent passwd "$user" | cut -d: -f6)
if [ "$(stat -c %U "$home")" != "$user" ]; then    # made before the user was
  chown "$user:" "$home"
  done_ "gave $home to $user"
fi
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if grep -q "^$user:" "$f"; then
    done_ "$user already has $(grep "^$user:" "$f" | head -n1 | cut -d: -f2-) in $f"
  else
    start=$(awk -F: 'BEGIN { n = 100000 } NF == 3 && $2 + $3 > n { n = $2 + $3 } END { print n }' "$f")
    echo "$user:$start:65536" >> "$f"
    done_ "gave $user $start:65536 in $f"
  fi
done

# 3. The repository belongs to the student (Vagrant's rsync makes it so;
#    a copy made otherwise may not).
owner=$(stat -c %U "$repo")
if [ "$owner" != "$user" ]; then
  chown -R "$user:" "$repo"
  done_ "gave $repo to $user (it was $owner's)"
fi

# 4. cgroup v2 delegation: systemd hands these controllers to each user's
#    manager (user@UID.service), so a plain user can set limits (level 6).
dropin=/etc/systemd/system/user@.service.d/delegate.conf
want="[Service]
Delegate=cpu cpuset io memory pids"
if [ "$(cat "$dropin" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$(dirname "$dropin")"
  printf '%s\n' "$want" > "$dropin"
  done_ "wrote $dropin (Delegate=cpu cpuset io memory pids)"
else
  done_ "$dropin already delegates cpu cpuset io memory pids"
fi
if [ "$systemd" = yes ]; then
  systemctl daemon-reload
  done_ "systemd reloaded: the delegation holds from $user's next login (vagrant ssh)"
else
  skip "systemctl daemon-reload: systemd is not PID 1 here (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown); a container?)"
fi
fs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo none)
if [ "$fs" = cgroup2fs ]; then
  done_ "cgroup v2 at /sys/fs/cgroup: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
else
  skip "cgroup v2: /sys/fs/cgroup is $fs here, so level 6 cannot run on this machine"
fi

# 5. /dev/fuse and /dev/net/tun, usable by plain users (rootless networking,
#    FUSE).  setup-host set their modes; here the modules, and both made to
#    last across reboots where systemd and udev run the machine.
for m in fuse:/dev/fuse tun:/dev/net/tun; do
  mod=${m%%:*}; dev=${m#*:}
  if [ ! -e "$dev" ]; then
    if command -v modprobe >/dev/null && modprobe "$mod" 2>/dev/null && [ -e "$dev" ]; then
      done_ "loaded the $mod module"
    else
      skip "$dev: not here and the $mod module could not be loaded (a container without the device?)"
      continue
    fi
  fi
  if chmod 0666 "$dev" 2>/dev/null; then
    done_ "$dev is mode $(stat -c %a "$dev")"
  else
    skip "chmod $dev: refused here (mode $(stat -c %a "$dev"))"
  fi
done
if [ "$systemd" = yes ]; then
  printf 'fuse\ntun\n' > /etc/modules-load.d/minirun-course.conf
  printf '%s\n' 'KERNEL=="fuse", MODE="0666"' 'KERNEL=="tun", MODE="0666"' \
    > /etc/udev/rules.d/70-minirun-course.rules
  done_ "fuse and tun load at boot, mode 0666 (/etc/modules-load.d, /etc/udev/rules.d)"
else
  skip "making fuse and tun last across boots: systemd is not PID 1 here"
fi

# 6. As the student: the virtualenv, the busybox image and, where a plain
#    user may make a user namespace mapped with its subordinate ids (what a
#    rootless container needs), a real rootless container: make demo.  Where
#    it may not (inside most containers; Ubuntu 24.04's AppArmor restriction,
#    see README.md), everything but that container.
if runuser -u "$user" -- unshare --user --map-auto --mount true 2>/dev/null; then
  runuser -u "$user" -- env HOME="$home" make -C "$repo" demo
  done_ "make demo as $user: a rootless container ran"
else
  skip "make demo's container: $user cannot make a user namespace with its subordinate ids here (unshare --user --map-auto --mount failed: a container? AppArmor on Ubuntu 24.04, see README.md?); ran make setup instead"
  runuser -u "$user" -- env HOME="$home" make -C "$repo" setup
  done_ "make setup as $user (virtualenv, native part, busybox root)"
fi

echo "provision: done.  What was done:$did"
[ -z "$skipped" ] || echo "provision: skipped:$skipped"
echo "provision: the course starts with: cd $repo && make check LEVEL=1"
