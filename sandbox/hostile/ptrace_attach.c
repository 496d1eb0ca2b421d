/* ptrace: PTRACE_TRACEME, attaching to its own child (same uid!), to init and reading the
 * child's memory with process_vm_readv. Expected: Exited(0); 99 if any of it worked. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int escaped = 0;
    static char secret[16] = "child secret";
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) == 0) { printf("TRACEME allowed\n"); escaped = 1; }
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    if (ptrace(PTRACE_ATTACH, child, 0, 0) == 0) { printf("ATTACH child allowed\n"); escaped = 1; }
    else printf("attach child: %s\n", strerror(errno));
    if (ptrace(PTRACE_SEIZE, child, 0, 0) == 0) { printf("SEIZE child allowed\n"); escaped = 1; }
    if (ptrace(PTRACE_ATTACH, 1, 0, 0) == 0) { printf("ATTACH init allowed\n"); escaped = 1; }
    char buf[16];
    struct iovec local = {buf, sizeof buf}, remote = {secret, sizeof secret};
    if (process_vm_readv(child, &local, 1, &remote, 1, 0) > 0) { printf("VM_READV allowed\n"); escaped = 1; }
    else printf("process_vm_readv: %s\n", strerror(errno));
    kill(child, SIGKILL);
    waitpid(child, 0, 0);
    return escaped ? 99 : 0;
}
