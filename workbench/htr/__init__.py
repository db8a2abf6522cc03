"""Handwritten text recognition: kraken (imported only in kraken.py), the pipeline, training, evaluation."""
