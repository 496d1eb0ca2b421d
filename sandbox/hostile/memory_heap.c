/* Heap bomb: allocates and touches 1 MiB chunks forever. Expected: MemoryLimit (OOM kill in
 * the slot cgroup). Exit 98 would mean malloc failed instead, i.e. no cgroup limit hit. */
#include <stdlib.h>
#include <string.h>

int main(void) {
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p)
            return 98;
        memset(p, 1, 1 << 20);
    }
}
