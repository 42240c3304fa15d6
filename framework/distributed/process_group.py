"""Process groups over MPI: the default (world) group, sub-groups, ranks, and the crash hook.

mpi4py is imported only here, when a group is first made: `import framework` stays free
of it. Under `mpiexec -n N` each process learns its rank and the world size from
MPI.COMM_WORLD; a plain `python` run of the same program is a world of one (MPI's singleton start).

A rank that raises leaves the others blocked in their next collective, and mpiexec would
wait for ever: init_process_group therefore installs an exception hook that prints the
traceback, then aborts the communicator, which ends every rank with a non-zero status.
A rank that calls sys.exit(status) ends at once with that status (mpi4py's MPI_Finalize
at exit is turned off, see init_process_group), and mpiexec then ends the others.

Backends name which library moves which device's tensors: "mpi" (cpu), "nccl" (cuda, through nccl4py: see
nccl.py), or both as PyTorch spells it, "cpu:mpi,cuda:nccl". Every group keeps its MPI communicator whatever
its backend: it carries Python objects, the debug checks and NCCL's unique id.
"""
import importlib.util
import os
import sys
import warnings

_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")
_BACKENDS = ("mpi", "nccl")
_DEVICE_OF_BACKEND = {"mpi": "cpu", "nccl": "cuda"}


class Backend(str):
    """A backend's name: `Backend.MPI == "mpi"`."""
    UNDEFINED, GLOO, NCCL, MPI = "undefined", "gloo", "nccl", "mpi"

    def __new__(cls, name):
        return str.__new__(cls, name.lower())


class ProcessGroup:
    """The ranks of a group (as ranks of the world, in group order) and the MPI communicator joining them."""

    def __init__(self, comm, ranks, backend, timeout=None):
        self.comm = comm
        self.ranks = list(ranks)
        self.backend = Backend(backend)
        self.device_backends = _device_backends(backend)  # {"cpu": "mpi", "cuda": "nccl"} or part of it
        self.timeout = timeout  # a datetime.timedelta, or None: monitored_barrier's default
        self.nccl = None  # the NCCL communicator (nccl.py) when cuda tensors go through NCCL
        self.monitored_barriers = 0  # calls so far: tags monitored_barrier's messages (monitored_barrier.py)
        # monitored_barrier's own communicator, made now: made at its call, it would wait for the late ranks
        self.monitor = comm.Dup()
        if "cuda" in self.device_backends:
            from .nccl import NcclCommunicator
            self.nccl = NcclCommunicator(self)

    def rank(self):
        return self.comm.Get_rank()

    def size(self):
        return len(self.ranks)

    def name(self):
        return self.backend

    def __repr__(self):
        return f"ProcessGroup(backend={self.backend!r}, ranks={self.ranks})"


class GroupMember:
    """`group=None` (or GroupMember.WORLD) means the default group; NON_GROUP_MEMBER is what
    new_group returns to ranks outside the new group."""
    WORLD = None
    NON_GROUP_MEMBER = -100


_state = {"world": None, "previous_excepthook": None}


def is_available():
    """True: the package is always there (PyTorch's answer when built with distributed support); whether a
    backend can run is is_mpi_available's question."""
    return True


def is_initialized():
    return _state["world"] is not None


def is_mpi_available():
    """Whether the 'mpi' backend can run here (mpi4py is installed), asked without importing it."""
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available():
    """Whether the 'nccl' backend can run here (nccl4py is installed), asked without importing it."""
    try:
        return importlib.util.find_spec("nccl.bindings.nccl") is not None
    except ImportError:
        return False


def is_gloo_available():
    return False


def _device_backends(backend):
    """{device type: backend} from "mpi", "nccl" or "cpu:mpi,cuda:nccl" (PyTorch's spelling of a pair)."""
    pairs = {}
    for part in str(backend).split(","):
        device, _, name = part.strip().rpartition(":")
        name = name.strip().lower()
        if name not in _BACKENDS:
            raise ValueError(f"Invalid backend {name!r}: framework.distributed supports {', '.join(_BACKENDS)} "
                             "(CPU tensors over MPI, cuda tensors over NCCL)")
        device = device.strip().lower() or _DEVICE_OF_BACKEND[name]
        if _DEVICE_OF_BACKEND[name] != device:
            raise ValueError(f"Invalid backend {backend!r}: {name} moves {_DEVICE_OF_BACKEND[name]} tensors, "
                             f"not {device} ones")
        pairs[device] = name
    return pairs


def _check_backend(backend):
    backend = Backend(backend or "mpi")
    devices = _device_backends(backend)
    if "cuda" in devices and not is_nccl_available():
        raise RuntimeError("framework.distributed's 'nccl' backend needs nccl4py and NCCL's library: pip install "
                           "nccl4py nvidia-nccl-cu12 (or 'framework[distributed]' on Linux)")
    return backend


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the default group. Rank and world size come from MPI (`mpiexec -n N python ...`); the
    arguments, if given, must agree with them. `init_method` and `store` are not needed: MPI connects
    the processes itself."""
    backend = _check_backend(backend)
    if is_initialized():
        raise ValueError("trying to initialize the default process group twice!")
    if not is_mpi_available():
        raise RuntimeError("framework.distributed's 'mpi' backend needs mpi4py and an MPI library: "
                           "pip install mpi4py mpich (or pip install 'framework[distributed]')")
    import mpi4py
    if "mpi4py.MPI" not in sys.modules:
        # No MPI_Finalize at exit: it waits for every rank, so a rank leaving with sys.exit(status) would
        # hang in it while the others wait in a collective; without it the process ends with its status
        # and mpiexec ends the job. (Nothing is lost: the collectives of a rank are complete when it exits.)
        mpi4py.rc.finalize = False
    from mpi4py import MPI
    comm = MPI.COMM_WORLD.Dup()
    if world_size not in (-1, None) and world_size != comm.Get_size():
        raise ValueError(f"init_process_group: world_size={world_size} but MPI started {comm.Get_size()} "
                         "processes (launch with mpiexec -n <world_size>)")
    if rank not in (-1, None) and rank != comm.Get_rank():
        raise ValueError(f"init_process_group: rank={rank} but MPI gave this process rank {comm.Get_rank()}")
    _state["world"] = ProcessGroup(comm, range(comm.Get_size()), backend, timeout)
    _install_abort_hook()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks on this machine
    advice = thread_advice(local.Get_size(), os.environ, os.cpu_count())
    local.Free()
    if advice and comm.Get_rank() == 0:
        warnings.warn(advice, stacklevel=2)


def thread_advice(ranks_here, environ, cores):
    """A warning when `ranks_here` processes on one machine would each start numpy's BLAS with a thread per core
    (no thread count in the environment): measured on 2 cores, 2 ranks ran 10x slower so (perf/RESULTS.md)."""
    if ranks_here < 2 or any(environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
        return None
    per_rank = max(1, (cores or 1) // ranks_here)
    return (f"{ranks_here} ranks share this machine's {cores} cores, and numpy's BLAS starts a thread per core in "
            f"each of them: set OPENBLAS_NUM_THREADS={per_rank} (mpiexec -genv OPENBLAS_NUM_THREADS {per_rank} ...) "
            "before Python starts, or the ranks' threads fight for the cores")


def destroy_process_group(group=None):
    """Free `group`'s communicator; without one (or the world), leave the default group."""
    if group is None or group is _state["world"]:
        world = _default_group()
        _state["world"] = None
        _remove_abort_hook()
        _free(world)
    elif group is not GroupMember.NON_GROUP_MEMBER:
        _free(group)


def _free(group):
    if group.nccl is not None:
        group.nccl.destroy()
    group.monitor.Free()
    group.comm.Free()


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A group of the given world ranks (all of them by default). Every rank of the world calls it;
    those outside get GroupMember.NON_GROUP_MEMBER."""
    world = _default_group()
    backend = _check_backend(backend or world.backend)
    ranks = list(range(world.size())) if ranks is None else sorted(int(r) for r in ranks)
    for r in ranks:
        if not 0 <= r < world.size():
            raise ValueError(f"new_group: rank {r} is not in the world of {world.size()} ranks")
    from mpi4py import MPI
    comm = world.comm.Create(world.comm.Get_group().Incl(ranks))  # collective over the world
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(comm, ranks, backend, timeout or world.timeout)


def _default_group():
    world = _state["world"]
    if world is None:
        raise ValueError(_NOT_INITIALIZED)
    return world


def _group(group):
    """The ProcessGroup a collective runs on, or None when this rank is not in it."""
    world = _default_group()
    if group is None:
        return world
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    return group


def device_backend(group, *tensors):
    """'mpi' or 'nccl': the backend of `group` that moves these tensors (all on one device type), or PyTorch's
    error when the group has none for their device."""
    from ..graphs import recording
    from ..tensor import Tensor
    if recording.ACTIVE is not None and not recording.ACTIVE.depth:
        # data moved between processes outside the recorded kernels: a replay would skip it
        raise RuntimeError(f"{sys._getframe(1).f_code.co_name}() cannot be captured in a graph yet: a collective moves "
                           "data between processes outside the recorded kernels, so a replay would skip it. Run "
                           "distributed steps (DistributedDataParallel's gradient averaging too) eagerly.")
    for tensor in tensors:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"tensor must be a framework.Tensor, got {type(tensor).__name__}")
    device = tensors[0].device.type
    backend = group.device_backends.get(device)
    if backend is None and device != "cuda":
        raise RuntimeError(f"No backend type associated with device type {device}")
    if backend == "nccl":
        from .nccl import check_cuda
        for tensor in tensors:
            check_cuda(tensor)
    else:
        from .buffers import check_cpu
        for tensor in tensors:
            check_cpu(tensor)  # a cuda tensor on an MPI-only group: the error says to use 'nccl'
    return backend or "mpi"


def get_rank(group=None):
    """This process's rank in `group` (-1 if it is not a member)."""
    found = _group(group)
    return -1 if found is None else found.rank()


def get_world_size(group=None):
    found = _group(group)
    return -1 if found is None else found.size()


def get_backend(group=None):
    found = _group(group)
    if found is None:
        raise ValueError("Invalid process group specified")
    return found.backend


def get_process_group_ranks(group):
    return list(_group(group).ranks)


def get_global_rank(group, group_rank):
    return _group(group).ranks[group_rank]


def get_group_rank(group, global_rank):
    ranks = _group(group).ranks
    if global_rank not in ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {group}")
    return ranks.index(global_rank)


def group_peer(group, peer, group_peer, name):
    """The group rank of a collective's root or peer, given as a world rank (`peer`) or a group rank."""
    if peer is not None and group_peer is not None:
        raise ValueError(f"Can not specify both {name} and group_{name}")
    if group_peer is not None:
        if not 0 <= group_peer < group.size():
            raise ValueError(f"group_{name} {group_peer} is not in the group of {group.size()} ranks")
        return group_peer
    return get_group_rank(group, 0 if peer is None else peer)


def _install_abort_hook():
    previous = _state["previous_excepthook"] = sys.excepthook

    def abort_on_uncaught_exception(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stdout.flush()
        sys.stderr.flush()
        world = _state["world"]
        if world is not None and world.size() > 1:
            world.comm.Abort(1)

    sys.excepthook = abort_on_uncaught_exception


def _remove_abort_hook():
    if _state["previous_excepthook"] is not None:
        sys.excepthook = _state["previous_excepthook"]
        _state["previous_excepthook"] = None
