"""Kernels: multivariate (filled in by the kernel work)."""
