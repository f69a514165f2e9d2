"""Exporters: Replik's JSON (a complete backup) and WordPress's WXR."""
