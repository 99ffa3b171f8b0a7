"""The training set and the network's learning curve."""
