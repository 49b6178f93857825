"""Hostile input: XML and crypto attacks on the callback, image bombs, random bytes and text into every parser,
prompt injection through data reps write, and what the logs may never show."""
