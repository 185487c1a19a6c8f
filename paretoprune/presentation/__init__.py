"""Presentation: printing tables and drawing fronts. Nothing here trains or writes a store."""
