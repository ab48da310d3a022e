/* A UDP echo server for the network tests (busybox has none): answers each
 * datagram with "ADDRESS TEXT", the sender's address as seen inside. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    struct sockaddr_in me = {.sin_family = AF_INET}, from;
    char in[2048], out[2200];
    int s = socket(AF_INET, SOCK_DGRAM, 0);

    if (argc != 2 || s < 0) {
        fprintf(stderr, "usage: udpecho PORT\n");
        return 2;
    }
    me.sin_port = htons(atoi(argv[1]));
    if (bind(s, (struct sockaddr *)&me, sizeof me) < 0) {
        perror("bind");
        return 1;
    }
    for (;;) {
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, in, sizeof in, 0, (struct sockaddr *)&from, &len);
        if (n < 0)
            return 1;
        int m = snprintf(out, sizeof out, "%s %.*s", inet_ntoa(from.sin_addr), (int)n, in);
        sendto(s, out, m, 0, (struct sockaddr *)&from, len);
    }
}
