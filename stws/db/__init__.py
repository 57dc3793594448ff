"""Database: models, engine and sessions, migrations, first-start seeding."""
