"""Jinja2 templates shipped with certcheck (package data)."""
