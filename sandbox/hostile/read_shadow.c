/* Reads secrets of the host: /etc/shadow and friends, and a host file outside every bind
 * whose path is argv[1]. Expected: Exited(0) (all denied); 99 if anything was read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *paths[] = {"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root/.bash_history",
                           "/etc/ssh/ssh_host_ed25519_key", argc > 1 ? argv[1] : "/nonexistent"};
    int escaped = 0;
    for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) {
        int fd = open(paths[i], O_RDONLY);
        if (fd >= 0) {
            char buf[64];
            ssize_t n = read(fd, buf, sizeof buf);
            printf("READ %s (%zd bytes)\n", paths[i], n);
            escaped = 1;
            close(fd);
        } else {
            printf("denied %s: %s\n", paths[i], strerror(errno));
        }
    }
    DIR *d = opendir("/etc");
    if (d) {
        struct dirent *e;
        printf("/etc:");
        while ((e = readdir(d)))
            printf(" %s", e->d_name);
        printf("\n");
        closedir(d);
    }
    return escaped ? 99 : 0;
}
