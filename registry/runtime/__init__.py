"""Running a version: load (hashes checked first), validate the input, invoke, and on Ray."""
