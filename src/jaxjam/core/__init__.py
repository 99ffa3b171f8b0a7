"""The core layer: values and physics with no learned part — MGEs, geometry, the polar grid,
kinematics, the potential components, the PSF and the exact linear map from grid nodes to the
data's bins. Imports nothing else of jaxjam."""
