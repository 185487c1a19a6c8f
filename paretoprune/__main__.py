"""``python -m paretoprune``: the same as the ``paretoprune`` command."""

from paretoprune.cli import main

if __name__ == "__main__":
    main()
