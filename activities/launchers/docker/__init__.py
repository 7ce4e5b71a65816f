"""Docker launcher: code servers and run workers as containers on a Docker engine (docker SDK).

Modules: settings (the agent's docker settings), containers (names, labels, create arguments), images (pull
policy), watcher (event stream + cache), cleanup (retention and orphans), owners (Temporal-backed owner
check), launcher (the Launcher protocol). Import the launcher from `activities.launchers.docker.launcher`:
this package itself loads nothing heavy, so the agent's settings can import `settings` without the SDK.
"""
