"""Model cards: what a registered model is, how it was made and measured, and what it is for.

Built from the version's metadata.json alone (`model_card`), written beside the artifact by the
training pod (`stored`), printed by `ballast card` and served by the model server."""
