/* Leaves state for the next test case of the same submission ("leave"): tries to rewrite,
 * truncate, replace and remove its own binary (the build output), and writes files next to
 * it and in /tmp. The next test case ("look SIZE", SIZE = the binary's size) must find the
 * binary unchanged and none of the files. Expected: Exited(0) for both; "look" exits 99 if
 * any state survived. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void attempt(const char *what, int r) {
    printf("%s: %s\n", what, r == 0 ? "DONE" : strerror(errno));
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "leave")) {
        int fd = open("./main", O_WRONLY | O_APPEND);
        attempt("append to ./main", fd < 0 ? -1 : (write(fd, "X", 1) == 1 ? 0 : -1));
        attempt("truncate ./main", truncate("./main", 0));
        attempt("chmod ./main", chmod("./main", 0777));
        fd = open("./replacement", O_WRONLY | O_CREAT, 0755);
        if (fd >= 0)
            close(fd);
        attempt("rename over ./main", rename("./replacement", "./main"));
        attempt("unlink ./main", unlink("./main"));
        fd = open("./note", O_WRONLY | O_CREAT, 0644);
        attempt("write ./note", fd < 0 ? -1 : (write(fd, "answer", 6) == 6 ? 0 : -1));
        fd = open("/tmp/note", O_WRONLY | O_CREAT, 0644);
        attempt("write /tmp/note", fd < 0 ? -1 : (write(fd, "answer", 6) == 6 ? 0 : -1));
        printf("left state\n");
        return 0;
    }
    int found = 0;
    struct stat st;
    long want = argc > 2 ? atol(argv[2]) : -1;
    if (stat("./main", &st) != 0 || st.st_size != want) {
        printf("FOUND ./main changed (size %ld, want %ld)\n", (long)st.st_size, want);
        found = 1;
    }
    const char *left[] = {"./note", "./replacement", "/tmp/note"};
    for (int i = 0; i < 3; i++)
        if (access(left[i], F_OK) == 0) {
            printf("FOUND %s\n", left[i]);
            found = 1;
        }
    printf("looked\n");
    return found ? 99 : 0;
}
