"""Stage `report`: the Pareto front and every trial of a search, as CSV, plots and one HTML page."""
from ._report import trials_frame, write_report

__all__ = ["trials_frame", "write_report"]
