/* A 32-bit system call (int 0x80) from a 64-bit process: the non-native ABI must be killed
 * by the seccomp filter. Expected: Signaled(31) (SIGSYS). */
#include <stdio.h>

int main(void) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) /* i386 getpid */ : "memory");
    printf("int 0x80 returned %ld\n", ret);
    return 99;
}
