"""Stage `export`: cut the chosen subnet out of the supernet into a standalone network."""
from ._export import export_subnet, load_exported

__all__ = ["export_subnet", "load_exported"]
