"""Entry point for ``python -m fibench``."""

from fibench.cli import main

if __name__ == "__main__":
    main()
