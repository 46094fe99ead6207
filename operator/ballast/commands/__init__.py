"""User commands (`ballast runs`, `lineage`, `reproduce`): read and write Ballast objects
through the API server with the user's kubeconfig. Formatting is pure and tested alone."""
