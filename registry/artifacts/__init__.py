"""A version's stored files: the hash-verified artifact store, ``floe://`` URLs and export."""
