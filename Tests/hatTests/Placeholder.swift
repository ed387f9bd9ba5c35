// hat CLI tests: placeholder.
