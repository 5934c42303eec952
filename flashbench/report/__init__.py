"""Reporting: tables in the paper's layouts, plots by object count, bootstrap intervals.

Submodules are imported on use (``flashbench.report.tables``, ``.plots``, ``.bootstrap``)
so that the evaluation harness can use the bootstrap without loading matplotlib.
"""
