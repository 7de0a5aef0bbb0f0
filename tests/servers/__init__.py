"""Local HTTP servers that speak the real APIs of the sources, for tests and benchmarks."""
