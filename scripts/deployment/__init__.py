"""The deployment rehearsal's parts (scripts/deployment_rehearsal.py runs them)."""
