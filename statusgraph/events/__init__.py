"""Events: the outbox every change worth telling writes to (outbox.py)."""
