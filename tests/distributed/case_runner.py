"""Checks run inside an `mpiexec` program: each case runs on every rank, its error (or None) is gathered,
and rank 0 prints one JSON object {case: [error of rank 0, error of rank 1, ...]} as its last line.
The pytest side (results_of) launches the program once and hands out the per-case errors."""
import json
import traceback


class Cases(dict):
    def __call__(self, name):
        def register(function):
            if name in self:
                raise ValueError(f"two cases named {name}")
            self[name] = function
            return function
        return register


def run_cases(cases, backend="mpi"):
    import framework.distributed as dist
    dist.init_process_group(backend)
    rank = dist.get_rank()
    errors = {}
    for name, function in cases.items():
        try:
            function(rank)
            errors[name] = None
        except Exception:  # reported per case: the test names the failing one and shows this traceback
            errors[name] = traceback.format_exc(limit=4)
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, errors)
    if rank == 0:
        print(json.dumps({name: [errors_of_rank[name] for errors_of_rank in everyone] for name in cases}))
    dist.destroy_process_group()


def results_of(done):
    """The per-case errors printed by a finished launch (asserting it finished cleanly)."""
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_every_rank_passed(results, name):
    """The case `name` of a 2-rank launch's results raised on neither rank (else: each rank's traceback)."""
    errors = results[name]
    assert errors == [None, None], f"rank 0: {errors[0]}\nrank 1: {errors[1]}"
