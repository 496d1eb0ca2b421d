/* Looks for the worker's secrets: its own environment, /proc/self/environ, /proc/1/environ
 * (init), /proc/<argv[1]>/environ (the worker's pid outside) and every /proc/<pid>/environ
 * it can see. Prints all it finds; the test asserts the worker's secret is not among it.
 * Expected: Exited(0). */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void dump(const char *path) {
    char buf[65536];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: not readable\n", path);
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        n = 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0)
            buf[i] = '\n';
    buf[n] = 0;
    printf("%s:\n%s\n", path, buf);
}

int main(int argc, char **argv) {
    printf("environ:\n");
    for (char **e = environ; *e; e++)
        printf("%s\n", *e);
    dump("/proc/self/environ");
    dump("/proc/1/environ");
    dump("/proc/1/cmdline");
    if (argc > 1) {
        char p[64];
        snprintf(p, sizeof p, "/proc/%s/environ", argv[1]);
        dump(p);
    }
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char p[300];
        snprintf(p, sizeof p, "/proc/%s/environ", e->d_name);
        dump(p);
    }
    return 0;
}
