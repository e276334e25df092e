"""P1's theory made runnable: the eigenspace view (§4.1), the gradient-space view (§4.2), and the
probes and reports of their empirical checks (App. C.4, C.5)."""
