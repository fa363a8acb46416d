"""Credentials and who is calling: key format and hashing, scopes, principals, client IPs.

Framework-free and database-free, so every layer can use it.
"""
