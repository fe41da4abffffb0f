"""Dockerfile tooling: a parsed model with stages and positions, shell commands inside RUN,
and the lint rules that read them."""
