"""Pure functions: a custom resource in, the manifests (dicts) of its children out."""
