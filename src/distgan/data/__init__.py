"""Datasets (embedded and local formats) and their partition over workers."""
