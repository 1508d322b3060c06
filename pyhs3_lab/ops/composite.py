"""Kernels: composite (filled in by the kernel work)."""
