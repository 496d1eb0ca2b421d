#!/bin/bash
# Second stage inside the qemu guest of run-v2.sh: PID 1 after switch_root into the host's
# root (shared read-only over 9p), so every path is the host's and every tool is the host's.
#
# It gives the guest a working system (its own /proc, /sys, /dev, tmpfs /tmp and /run, a pure
# cgroup v2 hierarchy), runs the command that run-v2.sh left in the results share, records
# the command's exit status there and powers off.
#
# Called as `guest-stage2.sh` by the initramfs, and as `guest-stage2.sh --container-inner CMD...`
# by itself inside the new cgroup+mount namespaces of --container-mode.
set -uo pipefail

RESULTS=/run/vm          # the host's writable results dir (second 9p share)
CONTAINER_CG=/sys/fs/cgroup/container

if [ "${1:-}" = --container-inner ]; then
    shift
    # A cgroup2 mount made inside a cgroup namespace is rooted at the namespace's root, so
    # /sys/fs/cgroup now shows only the container's subtree, as Docker gives a container on a
    # cgroup v2 host (--cgroupns=private). The mount namespace is ours alone (private).
    if ! umount /sys/fs/cgroup || ! mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup; then
        echo "vm: cannot remount cgroup2 inside the cgroup namespace" >&2
        exit 125
    fi
    exec "$@"
fi

log() { echo "vm: $*" >/dev/console; }

power_off() {
    sync
    /bin/busybox poweroff -f
    echo o >/proc/sysrq-trigger
    sleep 60
}

# Anything going wrong before the command ran: say so on the console and power off without a
# status file; the host then fails and shows the console log.
die() {
    log "$*"
    power_off
}

setup_mounts() {
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts 2>/dev/null ||
        { mkdir -p /dev/pts && mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts; } ||
        die "mount devpts"
    # devtmpfs has no /dev/fd, /dev/std*: udev makes them on a normal system.
    ln -sfn /proc/self/fd /dev/fd
    ln -sfn /proc/self/fd/0 /dev/stdin
    ln -sfn /proc/self/fd/1 /dev/stdout
    ln -sfn /proc/self/fd/2 /dev/stderr
    mkdir -p /dev/shm /dev/mqueue
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm || die "mount /dev/shm"
    mount -t mqueue mqueue /dev/mqueue || die "mount /dev/mqueue"
    # The host's root is read-only: the guest gets its own writable /tmp and /run.
    mount -t tmpfs -o mode=1777,size=1G tmpfs /tmp || die "mount /tmp"
    mount -t tmpfs -o mode=755,size=64M tmpfs /run || die "mount /run"
    mkdir -p "$RESULTS"
    # Writable share, cache=none: what the guest writes is on the host at once.
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results "$RESULTS" ||
        die "mount the results share"
}

# The kernel was booted with cgroup_no_v1=all: there is no v1 hierarchy to mount at all.
setup_cgroup2() {
    # The options systemd uses, so this looks like a typical cgroup v2 host (nsdelegate makes
    # a cgroup namespace a delegation boundary, as for a Docker container).
    mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
        die "mount cgroup2"
    # Not cpuset: enabling it crashed an emulated 6.12 boot once, and the sandbox needs none.
    echo "+cpu +io +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control ||
        die "enable cgroup controllers (have: $(cat /sys/fs/cgroup/cgroup.controllers))"
}

setup_misc() {
    # Loopback for tests that listen on 127.0.0.1; no other network.
    /bin/busybox ip link set lo up || die "lo up"
    /bin/busybox hostname sandbox-v2-vm
    # The command's output goes to the second serial port, which the host prints; raw, so
    # the bytes arrive as written (no \n -> \r\n).
    stty -F /dev/ttyS1 raw -echo || die "stty ttyS1"
}

# The left side of the output pipe: becomes the command (in a fresh environment).
exec_cmd() {
    cd "$VM_CWD" 2>/dev/null || cd /
    if [ "$VM_MODE" = container ]; then
        # Docker-like: a non-root cgroup of its own (controllers available, none enabled
        # below it) and a cgroup namespace rooted there, so /proc/self/cgroup says 0::/.
        mkdir "$CONTAINER_CG" || exit 125
        echo "$BASHPID" >"$CONTAINER_CG/cgroup.procs" || exit 125
        exec env -i "${VM_ENV[@]}" unshare --cgroup --mount --propagation private -- \
            /bin/bash "$0" --container-inner "${VM_CMD[@]}"
    fi
    exec env -i "${VM_ENV[@]}" "${VM_CMD[@]}"
}

# SIGKILL every process but PID 1, us and the output copier ($1); print how many there were.
# (Kernel threads ignore signals.)
kill_leftovers() {
    local keep=$1 p pid arg0 n=0
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        case "$pid" in 1 | "$BASHPID" | "$keep") continue ;; esac
        arg0=
        IFS= read -r -d '' arg0 <"$p/cmdline" 2>/dev/null
        [ -n "$arg0" ] || continue # a kernel thread (or a zombie)
        kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
    done
    echo "$n"
}

# Let the copier finish what is in the FIFO (it ends at EOF), for at most 10 s.
drain_output() {
    local _
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

main() {
    setup_mounts
    setup_cgroup2
    setup_misc
    # job.sh (written by run-v2.sh) sets VM_MODE, VM_CWD, VM_CMD=(...) and VM_ENV=(...).
    # shellcheck source=/dev/null
    . "$RESULTS/job.sh" || die "cannot read $RESULTS/job.sh"
    cat /proc/uptime >"$RESULTS/started"
    # Output through a FIFO, not a pipeline: a pipeline would also wait for every process
    # the command left behind holding its stdout (a leaked `sleep 60`, a daemon).
    mkfifo /run/vm-output
    cat /run/vm-output >/dev/ttyS1 &
    local cat_pid=$! cmd_pid status=0
    exec_cmd </dev/null >/run/vm-output 2>&1 &
    cmd_pid=$!
    wait "$cmd_pid" || status=$?
    cat /proc/uptime >"$RESULTS/finished"
    # As when a container's main process exits: whatever it left running is killed.
    kill_leftovers "$cat_pid" >"$RESULTS/leftovers"
    drain_output "$cat_pid"
    echo "$status" >"$RESULTS/status.tmp" && mv "$RESULTS/status.tmp" "$RESULTS/status"
    power_off
}

main "$@"
