"""Training-set generation with jampy and mgefit (installed as ``jaxjam.data_gen``).

- :mod:`~jaxjam.data_gen.jam_labels`: the jampy reference wrapper, A and B component maps.
- :mod:`~jaxjam.data_gen.sampler`: realistic early-type-galaxy photometry and the JAM prior.
- :mod:`~jaxjam.data_gen.real_galaxies`: MGEs of real galaxies (M32, mgefit's HST images).
- :mod:`~jaxjam.data_gen.store`: the chunked zarr store and its lazy batch reader.
- :mod:`~jaxjam.data_gen.integrity`: missing, truncated and corrupt chunks, found and repaired.
- :mod:`~jaxjam.data_gen.generate`: resumable generation on dask.distributed.
"""
