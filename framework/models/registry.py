"""The model registry: builders register themselves by name; `list_models` and `get_model` look them up."""
_BUILDERS = {}


def register(builder):
    """Decorator: make `builder` available to `get_model` under its function name."""
    _BUILDERS[builder.__name__] = builder
    return builder


def list_models():
    """The names `get_model` accepts, sorted."""
    return sorted(_BUILDERS)


def get_model(name, pretrained=False, **kwargs):
    """Build the model registered as `name`; `pretrained` and `kwargs` go to its builder
    (see each builder's docstring, e.g. `framework.models.digits_mlp`)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(list_models())}")
    return _BUILDERS[name](pretrained=pretrained, **kwargs)
