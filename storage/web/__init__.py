"""Storage of the assistant's own web pages: sign-in sessions (docs/web-sign-in.md)."""
