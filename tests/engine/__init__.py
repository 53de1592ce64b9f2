"""Engine tests: validation of bad input, variable precedence."""
