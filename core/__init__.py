"""The domain: pure Python. No framework, database session, Redis or WeCom here."""
