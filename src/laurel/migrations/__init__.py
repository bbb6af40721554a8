"""Alembic migrations, shipped inside the package so `laurel db upgrade` works from any install."""
