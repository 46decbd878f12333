"""Tiny test package."""
