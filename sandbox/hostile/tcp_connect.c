/* Network: TCP to 127.0.0.1:<argv[1]> (the test listens there on the host), to [::1], and
 * raw/netlink/packet sockets. Expected: Exited(0) (no socket or no route); 99 if connected. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 80;
    int escaped = 0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        printf("socket(AF_INET): %s\n", strerror(errno));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            printf("CONNECTED to 127.0.0.1:%d\n", port);
            escaped = 1;
        } else {
            printf("connect: %s\n", strerror(errno));
        }
        close(s);
    }
    s = socket(AF_INET6, SOCK_STREAM, 0);
    if (s >= 0) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        a.sin6_addr = in6addr_loopback;
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            printf("CONNECTED to [::1]:%d\n", port);
            escaped = 1;
        }
        close(s);
    } else {
        printf("socket(AF_INET6): %s\n", strerror(errno));
    }
    int families[] = {AF_NETLINK, AF_PACKET, AF_VSOCK};
    for (unsigned i = 0; i < 3; i++) {
        s = socket(families[i], SOCK_RAW, 0);
        if (s >= 0) {
            printf("SOCKET family %d allowed\n", families[i]);
            escaped = 1;
            close(s);
        }
    }
    return escaped ? 99 : 0;
}
