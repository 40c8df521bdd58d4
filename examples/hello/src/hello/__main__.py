"""`python -m hello NAME` (and the built `hello.pyz NAME`)."""

import sys

from hello import greet


def main() -> None:
    print(greet(" ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
