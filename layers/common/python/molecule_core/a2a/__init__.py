"""The A2A proxy (SPEC §5.4): payload normalisation, the dead-upstream classifier, and the flow."""
