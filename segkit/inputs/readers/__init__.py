"""Detection readers: the reader contract (``base``) and the built-in readers, registered through the
same hook as any plugin's."""
