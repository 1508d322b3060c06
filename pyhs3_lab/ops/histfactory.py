"""Kernels: histfactory (filled in by the kernel work)."""
