"""The investment one-stop: industrial parks, the FDI registry, the pipeline, screening, siting."""
