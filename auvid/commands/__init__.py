"""One module per CLI command (process, live, build-engine, train, eval): the glue a command runs."""
