"""Cryo-EM particle images: 3-D poses, a projection simulator, preprocessing to the
model's range, and per-cluster summaries (class averages, spread of viewing directions)."""
