/* Stack bomb: unbounded recursion touching 4 KiB per frame. Run with a stack rlimit above
 * the memory limit (as judges do), so the stack grows until the cgroup's OOM killer ends it.
 * Expected: MemoryLimit. */
static int deep(int n) {
    volatile char frame[4096];
    frame[0] = (char)n;
    frame[4095] = (char)n;
    return deep(n + 1) + frame[0] + frame[4095];
}

int main(void) { return deep(0); }
