"""The file-level entry points the workflow's scripts and the command line call, one module per rule file."""
