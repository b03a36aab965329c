"""One-off measurements behind model decisions (issue #11): kept so a negative result can be
re-checked instead of re-tried. Nothing in auvid or the trainer imports them."""
