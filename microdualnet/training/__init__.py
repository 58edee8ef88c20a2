"""Training Micro-DualNet: config, schedule, loop with resume, logs, figures, ablations."""
