"""Pydantic models and enums shared by the control plane, the workflows, the activities and the CLI.

No I/O lives here: only data shapes, so every side agrees on them.
"""
