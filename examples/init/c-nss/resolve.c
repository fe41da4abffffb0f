/* c-nss: getaddrinfo of a name in /etc/hosts and getpwnam of the run user, through glibc's NSS
   at run time: init links it dynamically and ships its ELF closure on scratch. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "localhost";
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) { fprintf(stderr, "getaddrinfo %s: %s\n", host, gai_strerror(rc)); return 1; }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
    struct passwd *pw = getpwnam("nonroot");
    if (!pw) { fprintf(stderr, "getpwnam nonroot: not found\n"); return 1; }
    printf("%s=%s user=%s uid=%d home=%s\n", host, addr, pw->pw_name, (int)getuid(), pw->pw_dir);
    return 0;
}
