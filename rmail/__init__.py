"""rmail: a self-hosted mail, calendar and file appliance over plain files."""

__version__ = "0.1.0"
