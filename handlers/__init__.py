"""Conversation: who is talking, what state they are in, which command runs. Never speaks WeCom."""
