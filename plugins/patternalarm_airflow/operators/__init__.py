"""Operators: keyword-only arguments, templated fields, lazy hooks, on_kill."""
