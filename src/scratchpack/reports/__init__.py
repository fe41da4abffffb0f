"""Machine-readable report formats shared by the commands that report findings."""
