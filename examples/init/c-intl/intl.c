/* intl: what glibc loads at run time that no DT_NEEDED names, in one program: iconv
   (UTF-8 to ISO-8859-1, a gconv module), a UTF-8 locale from LANG (wide characters' width
   and case), getaddrinfo from /etc/hosts and getpwnam of the run user (NSS). */
#define _XOPEN_SOURCE 700 /* wcswidth */
#include <arpa/inet.h>
#include <iconv.h>
#include <limits.h>
#include <locale.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "localhost";
    iconv_t cd = iconv_open("ISO-8859-1", "UTF-8");
    if (cd == (iconv_t)-1) { perror("iconv_open ISO-8859-1"); return 1; }
    char in[] = "caf\xc3\xa9", out[16], *ip = in, *op = out;
    size_t il = strlen(in), ol = sizeof out;
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) { perror("iconv"); return 1; }
    iconv_close(cd);
    printf("iconv=");
    for (const char *c = out; c < op; c++) printf("%02x", (unsigned char)*c);
    const char *name = setlocale(LC_ALL, "");
    if (!name) { fprintf(stderr, "setlocale %s: unavailable\n", getenv("LANG")); return 1; }
    wchar_t wide[8];
    size_t n = mbstowcs(wide, "\xe6\x97\xa5\xe6\x9c\xac\xc3\xa9", 8); /* 2 CJK + e-acute */
    if (n == (size_t)-1) { fprintf(stderr, "mbstowcs: not a UTF-8 locale\n"); return 1; }
    char upper[MB_LEN_MAX];
    int len = wctomb(upper, (wchar_t)towupper((wint_t)wide[2]));
    if (len < 0) { fprintf(stderr, "wctomb failed\n"); return 1; }
    printf(" locale=%s width=%d upper=%.*s", name, wcswidth(wide, n), len, upper);
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) { fprintf(stderr, "getaddrinfo %s: %s\n", host, gai_strerror(rc)); return 1; }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
    struct passwd *pw = getpwnam("nonroot");
    if (!pw) { fprintf(stderr, "getpwnam nonroot: not found\n"); return 1; }
    printf(" %s=%s user=%s uid=%d\n", host, addr, pw->pw_name, (int)getuid());
    return 0;
}
