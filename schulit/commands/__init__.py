"""Click command groups, one module per area; each stays thin: parse, call, render."""
