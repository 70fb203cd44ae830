"""Data access: the only package (with molecule_core.db) that contains SQL. One module per store;
functions take an open connection so callers decide the transaction boundaries."""
