"""`python -m mnistgrid.cli ...` is the `mnistgrid` command; worker subprocesses start so."""

from mnistgrid.cli import main

main()
