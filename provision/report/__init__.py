"""Reports of a run: rich console, JSON, JUnit, node_exporter metrics and the HTML fleet page."""
