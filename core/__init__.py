"""The bottom ring: value types and codes every other package may import, importing none."""
