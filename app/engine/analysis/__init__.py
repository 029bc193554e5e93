"""Reading a trained network: gradient-decay analysis (`decay`) and the unit search (`units`).
Pure NumPy over arrays a trace already holds; imports nothing of the other subpackages."""
