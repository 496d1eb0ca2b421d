/* Double-forked daemon: new session, ignores SIGHUP/SIGTERM/SIGINT, outlives the main
 * process, then (2 s later) tries to write into the work dir on the host. The main process
 * exits 0 once the daemon is up. Expected: Exited(0), "daemon ready" on stdout, and the
 * daemon dead when the run returns, so /box/daemon_wrote_this never appears. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int ready[2];
    if (pipe(ready) != 0)
        return 97;
    pid_t first = fork();
    if (first == 0) {
        setsid();
        if (fork() != 0)
            _exit(0); /* the daemon is orphaned */
        signal(SIGHUP, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        close(ready[0]);
        if (write(ready[1], "R", 1) != 1)
            _exit(1);
        close(ready[1]);
        sleep(2);
        int fd = open("/box/daemon_wrote_this", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            if (write(fd, "escaped\n", 8) < 0)
                _exit(1);
            close(fd);
        }
        _exit(0);
    }
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) == 1)
        printf("daemon ready\n");
    waitpid(first, 0, 0);
    return 0;
}
