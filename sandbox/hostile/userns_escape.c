/* New namespaces would give the program capabilities again (a user namespace) or a view of
 * its own: unshare and clone of a user namespace (and others), clone3, setns. Ordinary fork
 * must still work. Expected: Exited(0); 99 if a namespace was created; 98 if fork broke. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int escaped = 0;
    if (unshare(CLONE_NEWUSER) == 0) { printf("UNSHARE NEWUSER\n"); escaped = 1; }
    else printf("unshare(NEWUSER): %s\n", strerror(errno));
    if (unshare(CLONE_NEWNS) == 0) { printf("UNSHARE NEWNS\n"); escaped = 1; }
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) { printf("CLONE NEWUSER\n"); escaped = 1; waitpid((pid_t)pid, 0, 0); }
    else printf("clone(NEWUSER): %s\n", strerror(errno));
    pid = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) { printf("CLONE NEWNET\n"); escaped = 1; waitpid((pid_t)pid, 0, 0); }
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWUSER;
    args.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) { printf("CLONE3 NEWUSER\n"); escaped = 1; waitpid((pid_t)pid, 0, 0); }
    else printf("clone3: %s\n", strerror(errno));
    int fd = open("/proc/self/ns/user", O_RDONLY);
    if (fd >= 0 && setns(fd, 0) == 0) { printf("SETNS\n"); escaped = 1; }
    pid_t c = fork();
    if (c == 0) _exit(7);
    int st = 0;
    if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
        printf("fork broken\n");
        return 98;
    }
    printf("fork works\n");
    return escaped ? 99 : 0;
}
