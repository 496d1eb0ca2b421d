/* What the mount table tells a run about the host: prints /proc/self/mountinfo, which the
 * test checks for host paths (the work dir used to show as /tmp/judge-worker-<pid>/slot-0).
 * Expected: Exited(0), and no mount whose root is a host path other than a toolchain's. */
#include <stdio.h>

int main(void) {
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return 97;
    char line[1024];
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    return 0;
}
