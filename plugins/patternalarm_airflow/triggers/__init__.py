"""Triggers run in the triggerer; blocking client calls are wrapped in threads."""
