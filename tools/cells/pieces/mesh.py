# --- piece mesh (tools/cells/pieces/mesh.py): the chapters' 8-device meshes ---
from jax.sharding import AxisType as _AxisType  # noqa: E402


def _devices8():
    """The chapter's 8 devices: the accelerators when there are 8, else the setup cell's 8 virtual CPU devices."""
    return jax.devices()[:8] if len(jax.devices()) >= 8 else jax.devices("cpu")[:8]


def _mesh(shape=(4, 2), axis_names=("data", "model"), auto=True):
    """A mesh of the 8 devices; Auto axes (unsharded inputs are resharded silently) unless auto=False: Explicit."""
    types = (_AxisType.Auto if auto else _AxisType.Explicit,) * len(shape)
    return jax.make_mesh(shape, axis_names, devices=_devices8(), axis_types=types)
