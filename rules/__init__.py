"""Data tables shipped with certcheck (package data)."""
