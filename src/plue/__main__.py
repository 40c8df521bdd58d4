"""``python -m plue``: the same as the ``plue`` command."""

from plue.cli import main

if __name__ == "__main__":
    main()
