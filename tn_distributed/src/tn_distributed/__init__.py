"""tensornet plugin: data-parallel training over MPI (``mpiexec -n N python train.py``)."""

from tn_distributed.data_parallel import DataParallel

__all__ = ["DataParallel"]
