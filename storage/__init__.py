"""SQLAlchemy and Redis implementations of the core ports, migrations, import, files."""
