"""The HTML report: page assembly, figures and sections built from every stage's outputs."""
