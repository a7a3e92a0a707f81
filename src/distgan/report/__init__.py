"""The comparison report: tables, plots and sample pictures from run folders, as HTML and Markdown."""

from distgan.report.build import build_report

__all__ = ["build_report"]
