"""Early-warning benchmark (issue 16): a labelled petition set, its evaluation and timings.

Run ``python -m bench.early_warning --help``.
"""
