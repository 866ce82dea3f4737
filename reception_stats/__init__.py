"""Live reception and till KPIs for Recyclic, as a reusable Django app."""

__version__ = "0.1.0"
