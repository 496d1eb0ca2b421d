/* Another process's memory without ptrace: the program forks a child holding a secret and
 * reads it through /proc/<child>/mem; it also tries to set its audit login uid through
 * /proc/self/loginuid. Both must fail (the program's processes are not dumpable). Expected:
 * Exited(0); 99 if it read the child's memory or wrote loginuid. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char secret[32] = "not yet";

int main(void) {
    int ready[2];
    if (pipe(ready) != 0)
        return 97;
    pid_t child = fork();
    if (child == 0) {
        strcpy(secret, "CHILD-SECRET");
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 96;
    int escaped = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        char got[32] = {0};
        if (pread(fd, got, sizeof got - 1, (off_t)(long)secret) > 0 && strstr(got, "CHILD")) {
            printf("READ the child's memory: %s\n", got);
            escaped = 1;
        } else {
            printf("opened %s but read nothing\n", path);
        }
    } else {
        printf("open %s: %s\n", path, strerror(errno));
    }
    fd = open("/proc/self/loginuid", O_WRONLY);
    if (fd >= 0 && write(fd, "0", 1) == 1) {
        printf("WROTE loginuid\n");
        escaped = 1;
    } else {
        printf("loginuid: %s\n", strerror(errno));
    }
    kill(child, SIGKILL);
    waitpid(child, 0, 0);
    return escaped ? 99 : 0;
}
