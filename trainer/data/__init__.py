"""Training data: teacher-labelled videos, image folders, manifests and the public protocols."""
