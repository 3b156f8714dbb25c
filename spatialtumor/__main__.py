"""``python -m spatialtumor``: the command line (as under ``mpirun -n N python -m ...``)."""

from .cli import main

main()
