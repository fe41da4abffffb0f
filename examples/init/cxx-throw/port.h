// The library's interface: parse_port throws bad_port, a type the library defines, so the
// catch in main.cpp matches it by the typeinfo the two objects share.
#pragma once
#include <stdexcept>
#include <string>

struct bad_port : std::runtime_error {
    explicit bad_port(const std::string &what) : std::runtime_error(what) {}
};

int parse_port(const std::string &text);
