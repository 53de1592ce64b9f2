"""Reports of a run: the rich console (live progress and recap) and the JSON report."""
