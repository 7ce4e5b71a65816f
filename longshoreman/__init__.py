"""Longshoreman SDK: declare jobs with `@job` and expose them with one `Definitions` object.

Importing this package stays light (standard library only): it runs inside user images, where the
code server and the run executor start often and start-up latency matters.
"""

from longshoreman.definitions import Definitions, Job, JobContext, job

__all__ = ["Definitions", "Job", "JobContext", "job"]
