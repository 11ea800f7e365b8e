"""A seller's money at a glance: pending, available, in escrow, per currency."""
