"""The course's classifiers: ``fc_net.FullyConnectedNet`` and ``cnn.ThreeLayerConvNet``."""
