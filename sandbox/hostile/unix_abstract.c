/* Abstract AF_UNIX sockets are per network namespace: connecting to the name the test
 * listens on (argv[1]) on the host must fail. Expected: Exited(0); 99 if connected. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "none";
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) {
        printf("socket(AF_UNIX): %s\n", strerror(errno));
        return 0;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if (len > sizeof a.sun_path - 1)
        len = sizeof a.sun_path - 1;
    memcpy(a.sun_path + 1, name, len); /* sun_path[0] = 0: abstract */
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (connect(s, (struct sockaddr *)&a, alen) == 0) {
        printf("CONNECTED to @%s\n", name);
        return 99;
    }
    printf("connect @%s: %s\n", name, strerror(errno));
    return 0;
}
