"""Interpretation: an invertible network (IIN) over the frozen semantic codes, its
traversals decoded by IRL-INR, and the isometry of IRL-INR's decoder."""
