/* Fork bomb: forks forever; failed forks keep spinning. The pids cgroup caps the tree; the
 * CPU time of the whole tree, or the kernel memory the failing forks pile up, ends it.
 * Expected: CpuTimeLimit or MemoryLimit (WallTimeLimit tolerated). */
#include <unistd.h>

int main(void) {
    for (;;)
        fork();
}
