"""Kernels: functions (filled in by the kernel work)."""
