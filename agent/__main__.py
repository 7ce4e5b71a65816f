"""`python -m agent` starts an agent."""

from agent.main import main

main()
