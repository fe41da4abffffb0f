"""A small Flask service: JSON routes, a converter chosen by name at run time."""
