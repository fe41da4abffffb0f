// Parses each argument as a port with libport.so, which throws bad_port on bad input: a
// C++ exception thrown in a shared library and caught here, which needs libstdc++ and
// libgcc_s's unwinder in the image. Prints the results and the user it runs as.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "port.h"

int main(int argc, char **argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) args = {"8080", "http", "70000"};
    int caught = 0;
    for (const auto &arg : args) {
        try {
            int port = parse_port(arg);
            std::cout << "port " << port << "\n";
        } catch (const bad_port &e) {
            ++caught;
            std::cout << "caught bad_port: " << e.what() << "\n";
        }
    }
    std::cout << "caught=" << caught << " uid=" << getuid() << std::endl;
    return 0;
}
