"""`python -m controlplane` runs the control-plane server."""

from controlplane.main import main

if __name__ == "__main__":
    main()
