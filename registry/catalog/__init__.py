"""The catalog: SQL tables that hold every model's metadata, and the store that edits them."""
