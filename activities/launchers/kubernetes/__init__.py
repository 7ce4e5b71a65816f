"""The kubernetes launcher: a Deployment + Service per code-server instance, a Job per run attempt.

Modules: settings (the agent's settings for it), manifests (object bodies), watcher (the shared watch
cache), wakeups (waiters woken by watch events), reasons (pod/job states → ProcessView with concrete
reasons), api (the client and its errors), launcher (the protocol). Only `settings` is imported by the
agent's settings; nothing here imports the `kubernetes` client at package import time.
"""
