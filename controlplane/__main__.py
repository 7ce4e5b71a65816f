"""`python -m controlplane` runs the control-plane server."""

from controlplane.server import main

if __name__ == "__main__":
    main()
