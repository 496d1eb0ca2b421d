/* kill(-1, SIGKILL), killing init (pid 1, its parent) and the worker's pid from outside
 * (argv[1]). It may only reach its own processes. Expected: Exited(0) (it survives, its own
 * child is killed, the rest is refused); 99 if it could signal init. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int escaped = 0;
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    if (kill(-1, SIGKILL) != 0) printf("kill(-1): %s\n", strerror(errno));
    int st = 0;
    waitpid(child, &st, 0);
    printf("own child %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? "killed" : "not killed");
    printf("parent is pid %d\n", (int)getppid());
    if (kill(getppid(), SIGKILL) == 0) { printf("KILLED PARENT\n"); escaped = 1; }
    else printf("kill(parent): %s\n", strerror(errno));
    if (kill(1, SIGKILL) == 0) { printf("KILLED INIT\n"); escaped = 1; }
    if (argc > 1) {
        pid_t worker = (pid_t)atoi(argv[1]);
        if (kill(worker, 0) == 0) { printf("worker pid %d visible\n", (int)worker); escaped = 1; }
        else printf("kill(worker %d): %s\n", (int)worker, strerror(errno));
    }
    printf("still alive\n");
    return escaped ? 99 : 0;
}
