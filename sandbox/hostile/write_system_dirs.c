/* Writes where it must not: /usr, /, /bin, /etc, /dev, /lib, a toolchain binary, /etc/passwd.
 * Expected: Exited(0) (all refused); 99 if any write succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    const char *create[] = {"/usr/pwned", "/pwned", "/bin/pwned", "/etc/pwned",
                            "/dev/pwned", "/lib/pwned", "/proc/pwned", "/usr/lib/jvm/pwned"};
    const char *modify[] = {"/usr/bin/gcc", "/usr/bin/python3", "/etc/passwd", "/etc/ld.so.cache"};
    int escaped = 0;
    for (unsigned i = 0; i < sizeof create / sizeof *create; i++) {
        int fd = open(create[i], O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            printf("CREATED %s\n", create[i]);
            escaped = 1;
            close(fd);
        } else {
            printf("refused %s: %s\n", create[i], strerror(errno));
        }
        if (mkdir(create[i], 0755) == 0) {
            printf("MKDIR %s\n", create[i]);
            escaped = 1;
        }
    }
    for (unsigned i = 0; i < sizeof modify / sizeof *modify; i++) {
        int fd = open(modify[i], O_WRONLY | O_APPEND);
        if (fd >= 0) {
            printf("OPENED FOR WRITE %s\n", modify[i]);
            escaped = 1;
            close(fd);
        } else {
            printf("refused %s: %s\n", modify[i], strerror(errno));
        }
        if (chmod(modify[i], 04777) == 0) {
            printf("CHMOD %s\n", modify[i]);
            escaped = 1;
        }
    }
    return escaped ? 99 : 0;
}
