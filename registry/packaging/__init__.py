"""Packaging a model object as a version: staging its files, its environment, custom models."""
