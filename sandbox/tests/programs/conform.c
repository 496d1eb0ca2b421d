/* One behaviour per argv[1], for the conformance suite (tests/conformance.rs): each must end
 * the same way under every mechanism. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned long sink;

static void spin(void) {
    for (;;)
        sink++;
}

static void on_xcpu(int sig) {
    (void)sig;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "exit0"))
        return 0;
    if (!strcmp(m, "exit3"))
        return 3;
    if (!strcmp(m, "exit255"))
        exit(255);
    if (!strcmp(m, "segv"))
        raise(SIGSEGV);
    if (!strcmp(m, "abort"))
        abort();
    if (!strcmp(m, "term"))
        raise(SIGTERM);
    if (!strcmp(m, "spin"))
        spin();
    if (!strcmp(m, "spin-catching-xcpu")) {
        signal(SIGXCPU, on_xcpu);
        spin();
    }
    if (!strcmp(m, "spin-in-children")) {
        /* The parent only waits; eight children burn the CPU. */
        for (int i = 0; i < 8; i++)
            if (fork() == 0)
                spin();
        while (wait(0) > 0) {
        }
        return 0;
    }
    if (!strcmp(m, "sleep")) {
        sleep(60);
        return 0;
    }
    if (!strcmp(m, "alloc")) {
        /* Touches 512 MiB, one MiB at a time, and keeps it. */
        for (int i = 0; i < 512; i++) {
            char *p = malloc(1 << 20);
            if (!p)
                return 4;
            memset(p, 1, 1 << 20);
        }
        sleep(5);
        return 0;
    }
    if (!strcmp(m, "flood")) {
        static char buf[1 << 16];
        memset(buf, 'y', sizeof buf);
        for (;;)
            if (write(1, buf, sizeof buf) < 0)
                return 5;
    }
    if (!strcmp(m, "flood-stderr")) {
        static char buf[1 << 16];
        memset(buf, 'e', sizeof buf);
        for (;;)
            if (write(2, buf, sizeof buf) < 0)
                return 5;
    }
    if (!strcmp(m, "exactly")) {
        /* argv[2] bytes to stdout, then exit 0. */
        long n = argc > 2 ? atol(argv[2]) : 0;
        for (long i = 0; i < n; i++)
            putchar('x');
        return 0;
    }
    if (!strcmp(m, "big-file")) {
        /* A file past RLIMIT_FSIZE in /tmp (SIGXFSZ). */
        FILE *f = fopen("/tmp/big", "w");
        if (!f)
            return 6;
        static char buf[1 << 16];
        for (;;)
            if (fwrite(buf, 1, sizeof buf, f) != sizeof buf || fflush(f) != 0)
                return 7;
    }
    if (!strcmp(m, "fork-bomb")) {
        /* Forks until it cannot, each child spinning: the tree's CPU time ends it. */
        for (;;) {
            pid_t p = fork();
            if (p == 0)
                spin();
            if (p < 0)
                spin();
        }
    }
    if (!strcmp(m, "echo")) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
            fwrite(buf, 1, n, stdout);
        return 0;
    }
    return 2;
}
