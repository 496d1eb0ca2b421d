#!/usr/bin/env bash
# Run one command as root inside a qemu guest whose kernel has a pure cgroup v2 hierarchy.
#
#   sandbox/vm/run-v2.sh [--container-mode] -- CMD [ARGS...]
#
# The host's / is shared read-only into the guest, so CMD (a test binary, a compiler, ...) is
# at the same path there. CMD's stdout+stderr are printed here as they come; the script exits
# with CMD's exit status, or non-zero if the guest never reported one (124: VM_TIMEOUT hit,
# 125: panic or other failure). See README.md beside this file.
#
# Environment: VM_TIMEOUT (seconds, default 1800), VM_CACHE (default $REPO/target/vm),
# VM_MEM (MiB, default 2048), VM_SMP (vCPUs; default 2, 1 on a 6.1 kernel), VM_KERNEL_PKG
# (a Debian linux-image-* package instead of the one linux-image-6.12-amd64 depends on),
# VM_KERNEL_SUITE (take the kernel from that Debian suite, e.g. trixie-backports),
# VM_PASS_ENV (more variable names to pass into the guest), VM_KEEP=1 (keep the run dir with
# the console log), VM_CONSOLE=1 (print the guest's console log at the end).
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$VM_DIR/../.." && pwd -P)
VM_CACHE=${VM_CACHE:-$REPO/target/vm}
VM_TIMEOUT=${VM_TIMEOUT:-1800}
VM_MEM=${VM_MEM:-2048}
VM_SMP=${VM_SMP:-}

# What the initramfs must load to mount the host's root over virtio-9p, plus overlayfs for the
# sandbox. Their dependencies (virtio_ring, netfs, fscache, ...) come from modules.dep.
WANTED_MODULES=(virtio_pci 9pnet_virtio 9p overlay)

# Variables passed from this invocation into the guest command's (otherwise fresh) environment,
# besides every SANDBOX_* and whatever VM_PASS_ENV names.
PASS_ENV=(RUST_BACKTRACE RUST_LIB_BACKTRACE RUST_LOG RUST_TEST_THREADS RUST_TEST_NOCAPTURE)

say() { echo "run-v2: $*" >&2; }
die() {
    say "$*"
    exit 125
}

usage() {
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------
# Host tools: qemu and a static busybox (for the initramfs), installed with apt when missing.

APT_UPDATED=
apt_update_once() {
    [ -z "$APT_UPDATED" ] || return 0
    say "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
}

# Run an apt command; if it fails (no or stale package lists on a fresh machine), update the
# lists once and try again.
apt_retry() {
    "$@" && return 0
    [ -z "$APT_UPDATED" ] || return 1
    apt_update_once
    "$@"
}

ensure_tools() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    # The initramfs needs the *static* busybox (the plain `busybox` package is dynamic).
    case "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" in
        *"ok installed"*) ;;
        *) missing+=(busybox-static) ;;
    esac
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    apt_retry env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Kernel: a Debian linux-image package, downloaded and unpacked into the cache, never installed.
# Sets KVER, KERNEL (the vmlinuz) and MODDIR (its lib/modules/$KVER).

# Metapackages whose dependency is the kernel to use, best first: 6.12 (bookworm's LTS kernel,
# from bookworm-security) boots two vCPUs under -icount; 6.1 (linux-image-amd64) hangs
# bringing up the second vCPU there, so it gets one (see vm_smp).
KERNEL_METAPACKAGES=(linux-image-6.12-amd64 linux-image-amd64)

# apt options for kernel look-ups and downloads. Empty: the host's own sources. With
# VM_KERNEL_SUITE (e.g. trixie-backports for a newer kernel) a private apt state in the cache
# that lists only that suite of the host's own Debian archive; the host's apt is left alone.
KAPT=(-o APT::Sandbox::User=root) # the _apt user cannot write into the cache dir
KAPT_UPDATED=
kernel_apt_setup() {
    [ -n "${VM_KERNEL_SUITE:-}" ] || return 0
    local d=$VM_CACHE/apt-$VM_KERNEL_SUITE uri
    # The archive the host's main suite comes from (the one whose name has no "-suffix").
    # shellcheck disable=SC2016 # $(...) are apt's fields, not the shell's
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 !~ /-/ && !p {print $1; p = 1}')
    [ -n "$uri" ] || die "cannot tell the host's Debian archive from its apt sources"
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $VM_KERNEL_SUITE main" >"$d/sources.list"
    KAPT+=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache")
    compgen -G "$d/lists/*_Packages*" >/dev/null || kernel_apt_update
}

kernel_apt_update() {
    [ -z "$KAPT_UPDATED" ] || return 1
    say "apt-get update${VM_KERNEL_SUITE:+ ($VM_KERNEL_SUITE only, private lists in $VM_CACHE)}"
    apt-get "${KAPT[@]}" update -qq
    KAPT_UPDATED=1
}

# The package a metapackage depends on, or nothing.
kernel_of() {
    apt-cache "${KAPT[@]}" depends "$1" 2>/dev/null | awk '/Depends: linux-image-/ && !p {print $2; p = 1}'
}

default_kernel_pkg() {
    # Reuse what an earlier run chose, so a warm cache needs no apt at all.
    local chosen=$VM_CACHE/kernel-pkg${VM_KERNEL_SUITE:+-$VM_KERNEL_SUITE}
    if [ -f "$chosen" ] && [ -f "$VM_CACHE/$(cat "$chosen")/.unpacked" ]; then
        cat "$chosen"
        return
    fi
    local meta pkg='' attempt
    for attempt in 1 2; do
        for meta in "${KERNEL_METAPACKAGES[@]}"; do
            pkg=$(kernel_of "$meta")
            [ -z "$pkg" ] || break 2
        done
        [ $attempt = 2 ] || kernel_apt_update || break
    done
    [ -n "$pkg" ] || die "no kernel package found (tried ${KERNEL_METAPACKAGES[*]})"
    echo "$pkg" >"$chosen"
    echo "$pkg"
}

# apt-get download into the current dir; on failure (stale lists) update once and retry.
kernel_download() {
    apt-get "${KAPT[@]}" download -qq "$@" && return 0
    kernel_apt_update && apt-get "${KAPT[@]}" download -qq "$@"
}

fetch_kernel() {
    local pkg=${VM_KERNEL_PKG:-}
    [ -n "$pkg" ] || pkg=$(default_kernel_pkg)
    # The cloud flavour has no 9p, so it could not mount the host's root.
    case "$pkg" in *cloud*) die "$pkg: the cloud kernel lacks 9p; use the generic amd64 flavour" ;; esac
    local root=$VM_CACHE/$pkg m
    if [ ! -f "$root/.unpacked" ]; then
        say "downloading $pkg"
        local dl parts deb
        dl=$(mktemp -d "$VM_CACHE/download.XXXXXX")
        TMP_DIRS+=("$dl")
        (cd "$dl" && kernel_download "$pkg")
        # Newer Debian kernels (7.x) split the image into linux-binary-* (vmlinuz) and
        # linux-modules-* packages that linux-image-* depends on: fetch those too.
        parts=$(dpkg-deb -f "$dl"/*.deb Depends | tr ',' '\n' |
            sed -E 's/^ +//; s/[ (].*//' | grep -E '^linux-(binary|modules)-' || true)
        # shellcheck disable=SC2086 # one word per package
        [ -z "$parts" ] || (cd "$dl" && kernel_download $parts)
        rm -rf "$root"
        for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$root"; done
        rm -rf "$dl"
        # Debian ships no modules.dep (depmod runs at install time): make it the same way.
        for m in "$root"/lib/modules/* "$root"/usr/lib/modules/*; do
            [ -d "$m/kernel" ] || continue
            [ -f "$m/modules.dep" ] || /bin/busybox depmod -b "${m%/lib/modules/*}" "${m##*/}"
        done
        touch "$root/.unpacked"
    fi
    MODDIR=
    for m in "$root"/lib/modules/* "$root"/usr/lib/modules/*; do
        [ -f "$m/modules.dep" ] && MODDIR=$m && break
    done
    [ -n "$MODDIR" ] || die "$pkg: no modules.dep under $root"
    KVER=${MODDIR##*/}
    for KERNEL in "$root/boot/vmlinuz-$KVER" "$MODDIR/vmlinuz" ""; do
        [ -z "$KERNEL" ] || [ ! -f "$KERNEL" ] || break
    done
    [ -n "$KERNEL" ] || die "$pkg: no vmlinuz for $KVER under $root"
}

# ---------------------------------------------------------------------------------------------
# Initramfs: static busybox, sandbox/vm/init and the modules 9p needs. Sets INITRD. Cached
# under a name that changes whenever its inputs do.

# Print WANTED_MODULES and their dependencies, each after what it depends on, as paths
# relative to MODDIR (as modules.dep names them).
module_load_order() {
    local -A deps_of=() path_of=() done_=()
    local line path deps name
    while IFS= read -r line; do
        path=${line%%:*}
        deps=${line#*:}
        name=${path##*/}
        name=${name%%.ko*}
        path_of[${name//-/_}]=$path
        deps_of[$path]=$deps
    done <"$MODDIR/modules.dep"
    visit() {
        local p=$1 d
        [ -z "${done_[$p]:-}" ] || return 0
        done_[$p]=1
        for d in ${deps_of[$p]}; do visit "$d"; done
        echo "$p"
    }
    local want
    for want in "${WANTED_MODULES[@]}"; do
        if [ -n "${path_of[$want]:-}" ]; then
            visit "${path_of[$want]}"
        elif [ -f "$MODDIR/modules.builtin" ] && ! grep -qE "/$want\.ko" "$MODDIR/modules.builtin"; then
            die "kernel $KVER has no module $want"
        fi # built in (split 7.x packages ship no modules.builtin): nothing to load
    done
}

build_initramfs() {
    local key
    key=$({
        cat "$VM_DIR/init"
        echo "$KVER ${WANTED_MODULES[*]}"
        sha256sum </bin/busybox
    } | sha256sum | cut -c1-12)
    INITRD=$VM_CACHE/initramfs-$KVER-$key.cpio.gz
    [ -f "$INITRD" ] && return 0
    say "building the initramfs for $KVER"
    local stage
    stage=$(mktemp -d "$VM_CACHE/initramfs.XXXXXX")
    TMP_DIRS+=("$stage")
    mkdir -p "$stage/bin" "$stage/lib/modules" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/newroot"
    cp /bin/busybox "$stage/bin/busybox"
    install -m 755 "$VM_DIR/init" "$stage/init"
    local order rel out
    order=$(module_load_order) # separate, so that its die stops the script
    for rel in $order; do
        out=${rel##*/}
        out=${out%%.ko*}.ko
        # busybox insmod cannot read compressed modules: decompress them here.
        case "$rel" in
            *.ko) cp "$MODDIR/$rel" "$stage/lib/modules/$out" ;;
            *.ko.xz) /bin/busybox xz -dc "$MODDIR/$rel" >"$stage/lib/modules/$out" ;;
            *.ko.gz) /bin/busybox gzip -dc "$MODDIR/$rel" >"$stage/lib/modules/$out" ;;
            *.ko.zst) zstd -qdc "$MODDIR/$rel" >"$stage/lib/modules/$out" ||
                die "need zstd for $rel (apt-get install zstd)" ;;
            *) die "unknown module format: $rel" ;;
        esac
        echo "$out" >>"$stage/lib/modules/load-order"
    done
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
        /bin/busybox cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9 >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    say "initramfs $(du -h "$INITRD" | cut -f1), loads: $(tr '\n' ' ' <"$stage/lib/modules/load-order")"
    rm -rf "$stage"
}

# ---------------------------------------------------------------------------------------------
# The run: a job file for the guest's second stage, qemu, and the exit status it leaves.

write_job() {
    local mode=$1
    shift
    local envs=(
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        HOME=/root USER=root LOGNAME=root TMPDIR=/tmp LANG=C.UTF-8
        VM_RESULTS=/run/vm
    )
    local name
    for name in "${PASS_ENV[@]}" ${VM_PASS_ENV:-} $(compgen -e | grep '^SANDBOX_' || true); do
        [ -n "${!name+set}" ] && envs+=("$name=${!name}")
    done
    {
        printf 'VM_MODE=%q\n' "$mode"
        printf 'VM_CWD=%q\n' "$PWD"
        printf 'VM_CMD=('
        printf ' %q' "$@"
        printf ' )\nVM_ENV=('
        printf ' %q' "${envs[@]}"
        printf ' )\n'
    } >"$RUN/share/job.sh"
}

# vCPUs: VM_SMP, else 2. Debian's 6.1 hangs at "smp: Bringing up secondary CPUs" under TCG
# with -icount (6.12 and 7.3 do not), so kernels before 6.5 (parallel CPU bring-up) get 1.
vm_smp() {
    if [ -n "$VM_SMP" ]; then
        echo "$VM_SMP"
    elif [ "$(printf '%s\n' "$KVER" 6.5 | sort -V | head -n1)" != 6.5 ]; then
        echo 1
    else
        echo 2
    fi
}

# mtime of a file with sub-second precision, or empty.
mtime() { stat -c %.3Y "$1" 2>/dev/null || true; }

boot() {
    local append="console=ttyS0 cgroup_no_v1=all panic=-1 quiet rdinit=/init vm.stage2=$VM_DIR/guest-stage2.sh"
    # shellcheck disable=SC2054 # the commas are qemu's
    local qemu=(
        qemu-system-x86_64
        # TCG only: /dev/kvm on this kind of machine does not work for a nested guest.
        -machine pc,accel=tcg -cpu max
        # Guest time follows executed instructions, so CPU limits measured in the guest
        # are not at the mercy of host scheduling (CPU-limit tests flake without it).
        -icount shift=0
        -m "$VM_MEM" -smp "$SMP"
        -nodefaults -nographic -no-reboot -monitor none
        -kernel "$KERNEL" -initrd "$INITRD" -append "$append"
        # ttyS0: kernel console, to a log shown on failure. ttyS1: the command's output.
        -serial "file:$RUN/console.log" -serial "file:$RUN/output.log"
        # The host's / read-only (the guest's root), and the writable results dir.
        -fsdev "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap"
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
        -fsdev "local,id=results,path=$RUN/share,security_model=none"
        -device virtio-9p-pci,fsdev=results,mount_tag=results
    )
    : >"$RUN/output.log"
    T0=$(date +%s.%N)
    timeout -k 10 "$VM_TIMEOUT" "${qemu[@]}" </dev/null >"$RUN/qemu.log" 2>&1 &
    QEMU_PID=$!
    # Stream the command's output as the guest writes it; tail ends once qemu has.
    tail -n +1 -f --pid="$QEMU_PID" "$RUN/output.log" &
    TAIL_PID=$!
    QEMU_RC=0
    wait "$QEMU_PID" || QEMU_RC=$?
    QEMU_PID=
    wait "$TAIL_PID" || true
    TAIL_PID=
    T1=$(date +%s.%N)
}

report() {
    local started finished
    started=$(mtime "$RUN/share/started")
    finished=$(mtime "$RUN/share/finished")
    local timing
    timing="kernel $KVER, total $(awk -v a="$T0" -v b="$T1" 'BEGIN {printf "%.1f", b - a}') s"
    [ -z "$started" ] || timing+=", boot $(awk -v a="$T0" -v b="$started" 'BEGIN {printf "%.1f", b - a}') s"
    [ -z "$started" ] || [ -z "$finished" ] ||
        timing+=", command $(awk -v a="$started" -v b="$finished" 'BEGIN {printf "%.1f", b - a}') s"
    [ "${VM_CONSOLE:-}" != 1 ] || {
        say "guest console:"
        cat "$RUN/console.log" >&2
    }
    local left
    left=$(cat "$RUN/share/leftovers" 2>/dev/null || true)
    [ "${left:-0}" = 0 ] || say "killed $left process(es) the command left running when it exited"
    if [ -f "$RUN/share/status" ]; then
        STATUS=$(cat "$RUN/share/status")
        say "exit status $STATUS ($timing)"
        return
    fi
    if [ "$QEMU_RC" = 124 ] || [ "$QEMU_RC" = 137 ]; then
        say "timed out after VM_TIMEOUT=$VM_TIMEOUT s, no exit status ($timing)"
        STATUS=124
    else
        say "the guest reported no exit status (qemu exit $QEMU_RC; $timing)"
        STATUS=125
    fi
    say "last lines of the guest console:"
    tail -n 40 "$RUN/console.log" >&2 || true
    [ ! -s "$RUN/qemu.log" ] || {
        say "qemu said:"
        cat "$RUN/qemu.log" >&2
    }
}

TMP_DIRS=()
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
    [ ${#TMP_DIRS[@]} -eq 0 ] || rm -rf "${TMP_DIRS[@]}"
    [ -z "${QEMU_PID:-}" ] || kill "$QEMU_PID" 2>/dev/null || true
    [ -z "${TAIL_PID:-}" ] || kill "$TAIL_PID" 2>/dev/null || true
    if [ -n "${RUN:-}" ]; then
        if [ "${VM_KEEP:-}" = 1 ]; then say "run dir kept: $RUN"; else rm -rf "$RUN"; fi
    fi
}

main() {
    local mode=plain
    while [ $# -gt 0 ]; do
        case "$1" in
            --container-mode) mode=container ;;
            --) shift; break ;;
            -h | --help) usage ;;
            *) say "unknown option $1"; usage ;;
        esac
        shift
    done
    [ $# -gt 0 ] || usage
    # The second stage is found through the kernel command line, which splits on spaces.
    case "$VM_DIR" in *[[:space:]]*) die "$VM_DIR: a path with spaces cannot go on the kernel command line" ;; esac

    mkdir -p "$VM_CACHE"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    ensure_tools
    # One run at a time fetches and builds into the cache; booting needs no lock.
    exec 9>"$VM_CACHE/.lock"
    flock 9
    kernel_apt_setup
    fetch_kernel
    build_initramfs
    flock -u 9
    exec 9>&-

    RUN=$(mktemp -d "${TMPDIR:-/tmp}/run-v2.XXXXXX")
    mkdir "$RUN/share"
    write_job "$mode" "$@"
    SMP=$(vm_smp)
    say "booting $KVER ($SMP vCPUs, $mode mode, timeout ${VM_TIMEOUT}s): $*"
    boot
    report
    exit "$STATUS"
}

main "$@"
