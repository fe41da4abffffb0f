/* c-hello: prints a greeting with its uid; built by the Makefile beside it. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("hello from c-hello uid=%d\n", (int)getuid());
    return 0;
}
