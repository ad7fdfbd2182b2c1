"""The shipped classifiers and their metrics, as package data (see `skelcam.train.shipped`)."""
