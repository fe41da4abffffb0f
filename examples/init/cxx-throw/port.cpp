// Throws from inside the shared library: the unwinder walks out of this object's frames
// into the caller's, through libgcc_s's _Unwind_RaiseException.
#include "port.h"

int parse_port(const std::string &text) {
    std::size_t used = 0;
    int port = 0;
    try {
        port = std::stoi(text, &used);  // throws std::invalid_argument from libstdc++
    } catch (const std::invalid_argument &) {
        throw bad_port("not a port: \"" + text + "\"");
    }
    if (used != text.size() || port < 1 || port > 65535) {
        throw bad_port("out of range: \"" + text + "\"");
    }
    return port;
}
