"""Notifications: channels, the dispatcher of events, deliveries and their log."""
