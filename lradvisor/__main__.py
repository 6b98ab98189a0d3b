"""``python -m lradvisor`` behaves exactly as the ``lradvisor`` console script."""

from lradvisor.cli import main

if __name__ == "__main__":
    main()
