"""Built-in detection readers, registered through the same hook as any plugin's."""
