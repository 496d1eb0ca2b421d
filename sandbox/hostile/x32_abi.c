/* An x32 system call (syscall number with bit 30 set): must be killed by the seccomp filter
 * even where the kernel has no x32 support. Expected: Signaled(31) (SIGSYS). */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    long ret = syscall(0x40000000L | SYS_getpid);
    printf("x32 getpid returned %ld\n", ret);
    return 99;
}
