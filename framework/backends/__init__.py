"""Device backends: each registers its kernel pairs in framework.autograd.registry."""
