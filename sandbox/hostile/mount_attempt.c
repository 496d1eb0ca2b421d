/* Mounts: mount(2) of a tmpfs and a bind, umount of /box and /proc, the new mount API,
 * pivot_root, chroot. Expected: Exited(0); 99 if any succeeded. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TRY(name, call)                                                              \
    do {                                                                             \
        long r_ = (long)(call);                                                      \
        if (r_ >= 0) { printf("%s SUCCEEDED\n", name); escaped = 1; }                \
        else printf("%s: %s\n", name, strerror(errno));                              \
    } while (0)

int main(void) {
    int escaped = 0;
    TRY("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, 0));
    TRY("bind mount", mount("/box", "/tmp", 0, MS_BIND, 0));
    TRY("remount / rw", mount(0, "/", 0, MS_REMOUNT, 0));
    TRY("umount /box", umount2("/box", MNT_DETACH));
    TRY("umount /proc", umount2("/proc", MNT_DETACH));
    TRY("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    TRY("open_tree", syscall(SYS_open_tree, -100, "/box", 1));
    TRY("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    TRY("chroot", chroot("/tmp"));
    return escaped ? 99 : 0;
}
