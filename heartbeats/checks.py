"""System checks with stable IDs for dangerous configuration."""
