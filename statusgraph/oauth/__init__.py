"""The OAuth 2.0 provider's endpoints and its login, consent and account pages (DESIGN §11)."""
