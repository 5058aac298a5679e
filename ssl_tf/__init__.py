"""ssl_tf: self-supervised learning of image representations."""
