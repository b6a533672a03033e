"""Models.  IRL-INR is split one idea per module:

* ``encoder``: image -> semantic code z, rotation, translation (optionally seeing the image
  un-posed by its closed-form moment pose first);
* ``hypernetwork``: z -> the weights of that image's INR;
* ``inr``: Fourier-feature coordinate MLP rendered under a pose;
* ``losses``: reconstruction, consistency (cosine or NT-Xent), symmetry breaking;
* ``irl_inr_config``: ``IRLINRConfig``, every setting of the model and its losses, checked;
* ``irl_inr``: ``IRLINR``, the composition and its training step.

The clustering models run on top of (or beside) it: ``scan`` (SCAN's heads over mined
neighbours) and ``selflabel`` (its self-labelling step), built from ``clustering_heads``,
``features`` (a frozen or trained feature extractor), ``scan_losses``, ``augmentation``
and ``checks``; and ``dti`` (transformed prototypes in pixel space, its CNN in
``dti_network``).
"""
