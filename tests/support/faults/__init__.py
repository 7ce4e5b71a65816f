"""Fault injection against the real stack: an environment per trial, an audit of every run, one scenario per fault.

Shared by tests/faults/ (one trial each, with assertions) and bench/chaos.py (many trials, a table).
"""
