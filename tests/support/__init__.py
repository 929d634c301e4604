"""Test helpers: stand-ins for external systems."""
