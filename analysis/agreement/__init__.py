"""Agreement between the model and human coders, and between coders (docs/agreement.md)."""
