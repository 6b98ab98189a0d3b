"""One module per schedule family; each defines ``FAMILY``. See ``_registry.py``."""
