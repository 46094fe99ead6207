"""Every condition reason, Event reason and stage Ballast writes, in one place: one module per
kind, and here the reasons more than one kind uses. Tests, docs and the Argo CD health checks
read the same names, so a typo fails an import instead of writing a reason nobody matches."""
