"""Models.  IRL-INR is split one idea per module:

* ``encoder``: image -> semantic code z, rotation, translation (optionally seeing the image
  un-posed by its closed-form moment pose first);
* ``hypernetwork``: z -> the weights of that image's INR;
* ``inr``: Fourier-feature coordinate MLP rendered under a pose;
* ``losses``: reconstruction, consistency (cosine or NT-Xent), symmetry breaking;
* ``irl_inr``: ``IRLINRConfig`` and ``IRLINR``, the composition and its training step.

``scan`` and ``dti`` are the clustering models that run on top of (or beside) it.
"""
