"""P1's theory made runnable: the eigenspace view (§4.1) and the gradient-space view (§4.2). Their
reports (and those of the empirical checks, App. C.4 and C.5) are in kdlab.reports."""
