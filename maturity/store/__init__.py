"""The store: schema, engines, migrations, the one writer and the read API."""
