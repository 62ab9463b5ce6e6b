"""Persistence: SQLAlchemy models, repositories, database setup, migrations and the file store."""
