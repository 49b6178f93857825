"""The scaled deployment and fault tests with real processes: PostgreSQL, Redis, callback servers and
workers as subprocesses, WeCom as the emulator on loopback."""
