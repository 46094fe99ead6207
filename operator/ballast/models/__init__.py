"""Ballast's safe model format: deterministic skops bytes, sha256-verified, fixed trusted types.

Import from the submodules. This package imports nothing itself, so that the operator, which
only checks artifacts (`artifact_types`, `digest`), never loads skops and scikit-learn;
`skops_format` serializes and loads models in the training and serving pods.
"""
