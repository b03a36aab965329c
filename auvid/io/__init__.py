"""Where frames come from and where results go: sources, sinks, overlay, plots, windows, model files."""
