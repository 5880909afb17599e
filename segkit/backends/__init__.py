"""Backends that ship with the core, registered through the same hook as any plugin's."""
