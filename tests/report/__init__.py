"""Consumers of run results: history store, HTML page (in headless chromium), JUnit, metrics."""
