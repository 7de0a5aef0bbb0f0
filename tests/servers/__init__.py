"""Local HTTP servers that speak the real APIs of the sources, for tests and benchmarks."""

#: how often a server's loop looks for ``shutdown()``: the standard library's 0.5 s made every
#: test that stops a server wait a quarter of a second on average for it
POLL_S = 0.02
