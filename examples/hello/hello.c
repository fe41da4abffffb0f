/* The quick-start example: prints who it runs as, and whether the image's essentials are
 * there (CA bundle, zoneinfo, passwd entry), so one run shows the image is complete. */
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *present(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? "yes" : "no";
}

int main(void) {
    uid_t uid = getuid();
    printf("Hello from scratchpack! uid=%d gid=%d\n", (int)uid, (int)getgid());
    printf("ca-certificates: %s\n", present("/etc/ssl/certs/ca-certificates.crt"));
    printf("zoneinfo UTC: %s\n", present("/usr/share/zoneinfo/UTC"));
    printf("tmp: %s\n", present("/tmp"));
    return 0;
}
