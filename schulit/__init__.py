"""schulit: accounts and school-server configs for a county's central school IT service."""

__version__ = "0.1.0"
