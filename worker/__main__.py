"""`python -m worker` starts an agent."""

from worker.agent import main

main()
