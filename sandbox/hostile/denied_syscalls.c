/* Every system call the seccomp filter must deny, called directly, with the errno it must
 * fail with; and the ones it must still allow. Expected: Exited(0); 99 if a denied call got
 * through or failed differently, 98 if an allowed one was denied. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int bad;

static void expect(const char *name, long ret, int want) {
    int e = errno;
    if (ret == -1 && e == want) {
        printf("ok   %-22s denied (%s)\n", name, strerror(e));
    } else {
        printf("FAIL %-22s returned %ld errno %d (%s), wanted %s\n", name, ret, e, strerror(e),
               strerror(want));
        bad = 99;
    }
}

int main(void) {
    char x = 'x';
    expect("ptrace", syscall(SYS_ptrace, 0, 0, 0, 0), EPERM);
    expect("process_vm_readv", syscall(SYS_process_vm_readv, getpid(), 0, 0, 0, 0, 0), EPERM);
    expect("process_vm_writev", syscall(SYS_process_vm_writev, getpid(), 0, 0, 0, 0, 0), EPERM);
    expect("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0), EPERM);
    expect("umount2", syscall(SYS_umount2, "/tmp", 0), EPERM);
    expect("fsopen", syscall(SYS_fsopen, "tmpfs", 0), EPERM);
    expect("fsmount", syscall(SYS_fsmount, -1, 0, 0), EPERM);
    expect("fsconfig", syscall(SYS_fsconfig, -1, 0, 0, 0, 0), EPERM);
    expect("fspick", syscall(SYS_fspick, -1, "", 0), EPERM);
    expect("move_mount", syscall(SYS_move_mount, -1, "", -1, "", 0), EPERM);
    expect("open_tree", syscall(SYS_open_tree, -1, "", 0), EPERM);
    expect("mount_setattr", syscall(SYS_mount_setattr, -1, "", 0, 0, 0), EPERM);
    expect("pivot_root", syscall(SYS_pivot_root, ".", "."), EPERM);
    expect("chroot", syscall(SYS_chroot, "/"), EPERM);
    expect("setns", syscall(SYS_setns, -1, 0), EPERM);
    expect("unshare(0)", syscall(SYS_unshare, 0), EPERM);
    expect("clone(NEWUSER)", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), EPERM);
    expect("clone(NEWPID)", syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0), EPERM);
    expect("clone3", syscall(SYS_clone3, 0, 0), ENOSYS);
    expect("bpf", syscall(SYS_bpf, 0, 0, 0), EPERM);
    expect("perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0), EPERM);
    expect("userfaultfd", syscall(SYS_userfaultfd, 0), EPERM);
    expect("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM);
    expect("add_key", syscall(SYS_add_key, "user", "k", "v", 1, 0), EPERM);
    expect("request_key", syscall(SYS_request_key, "user", "k", 0, 0), EPERM);
    expect("io_uring_setup", syscall(SYS_io_uring_setup, 1, 0), EPERM);
    expect("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0), EPERM);
    expect("io_uring_register", syscall(SYS_io_uring_register, -1, 0, 0, 0), EPERM);
    expect("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0), EPERM);
    expect("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, 0, 0), EPERM);
    expect("init_module", syscall(SYS_init_module, 0, 0, ""), EPERM);
    expect("finit_module", syscall(SYS_finit_module, -1, "", 0), EPERM);
    expect("delete_module", syscall(SYS_delete_module, "x", 0), EPERM);
    expect("reboot", syscall(SYS_reboot, 0, 0, 0, 0), EPERM);
    expect("swapon", syscall(SYS_swapon, "/x", 0), EPERM);
    expect("swapoff", syscall(SYS_swapoff, "/x"), EPERM);
    expect("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, 0, 0), EPERM);
    expect("name_to_handle_at", syscall(SYS_name_to_handle_at, -1, "", 0, 0, 0), EPERM);
    expect("personality(LINUX32)", syscall(SYS_personality, PER_LINUX32), EPERM);
    expect("memfd_secret", syscall(447, 0), EPERM);
    expect("settimeofday", syscall(SYS_settimeofday, 0, 0), EPERM);
    expect("acct", syscall(SYS_acct, 0), EPERM);
    expect("ioctl(TIOCSTI)", syscall(SYS_ioctl, 0, TIOCSTI, &x), EPERM);
    expect("inotify_init1", syscall(SYS_inotify_init1, 0), EPERM);
    expect("inotify_init", syscall(SYS_inotify_init), EPERM);
    expect("socket(AF_INET)", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0), EAFNOSUPPORT);
    expect("socket(AF_INET6)", syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT);
    expect("socket(AF_NETLINK)", syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT);
    expect("socket(AF_PACKET)", syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0), EAFNOSUPPORT);
    expect("socket(AF_VSOCK)", syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0), EAFNOSUPPORT);
    expect("socketpair(AF_INET)", syscall(SYS_socketpair, AF_INET, SOCK_STREAM, 0, 0), EAFNOSUPPORT);

    /* Still allowed. */
    int sv[2];
    if (socket(AF_UNIX, SOCK_STREAM, 0) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        printf("FAIL AF_UNIX denied\n");
        bad = bad ? bad : 98;
    }
    if (personality(0xffffffff) < 0) {
        printf("FAIL personality query denied\n");
        bad = bad ? bad : 98;
    }
    pid_t c = fork();
    if (c == 0) _exit(0);
    if (c < 0) {
        printf("FAIL fork denied\n");
        bad = bad ? bad : 98;
    }
    printf("done\n");
    return bad;
}
