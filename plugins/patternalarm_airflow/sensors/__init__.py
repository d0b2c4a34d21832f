"""Deferrable sensors: ``execute()`` only defers to a trigger."""
