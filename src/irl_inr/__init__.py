"""irl-inr: rotation- and translation-invariant representations with implicit neural
representations (IRL-INR), clustered with SCAN."""

__version__ = "0.1.0"
