"""Curation: question sources, the pool, decontamination, quality, features and the s1K selection."""
