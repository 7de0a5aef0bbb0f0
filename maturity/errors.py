"""The errors a person can fix, shown as one line by every entry point.

They live here, apart from the modules that raise them, so that the command line can catch them
without importing the configuration's models or SQLAlchemy before it needs them.
"""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration file is missing or wrong; the message says where and what."""


class StoreError(Exception):
    """The store cannot be opened or is not at the schema this code expects."""
