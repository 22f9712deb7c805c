"""Batch prediction of CSV, JSONL and Parquet files in chunks, with the stream's validation and
answers.

May import ``stream.model``.
"""
