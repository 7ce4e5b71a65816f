"""The ecs launcher: a service per code-server instance, a task per run attempt, on Amazon ECS (boto3)."""
