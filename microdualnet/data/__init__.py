"""Reading clips and videos and turning them into model input (shared by training and inference)."""
