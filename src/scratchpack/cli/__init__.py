"""The command line: parses arguments, calls operations, prints. Nothing else."""
