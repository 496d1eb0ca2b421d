/* /proc tricks: writing its own memory through /proc/self/mem (harmless by itself), and the
 * dangerous ones: opening its executable or a toolchain binary for writing (runc
 * CVE-2019-5736 style), reading init's memory and environment. Expected: Exited(0); 99 if a
 * dangerous one worked. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char target[16] = "original";

int main(void) {
    int escaped = 0;
    int fd = open("/proc/self/mem", O_RDWR);
    if (fd >= 0) {
        ssize_t n = pwrite(fd, "patched!", 8, (off_t)(uintptr_t)target);
        printf("self mem write: %zd (%s)\n", n, target);
        close(fd);
    } else {
        printf("open /proc/self/mem: %s\n", strerror(errno));
    }
    const char *wr[] = {"/proc/self/exe", "/usr/bin/python3", "/usr/bin/gcc"};
    for (unsigned i = 0; i < 3; i++) {
        fd = open(wr[i], O_WRONLY);
        if (fd >= 0) { printf("OPENED %s FOR WRITE\n", wr[i]); escaped = 1; close(fd); }
        else printf("write %s: %s\n", wr[i], strerror(errno));
    }
    const char *rd[] = {"/proc/1/mem", "/proc/1/environ", "/proc/1/root/etc/shadow"};
    for (unsigned i = 0; i < 3; i++) {
        fd = open(rd[i], O_RDONLY);
        if (fd >= 0) {
            char b[16];
            if (read(fd, b, sizeof b) > 0) { printf("READ %s\n", rd[i]); escaped = 1; }
            close(fd);
        } else {
            printf("read %s: %s\n", rd[i], strerror(errno));
        }
    }
    return escaped ? 99 : 0;
}
