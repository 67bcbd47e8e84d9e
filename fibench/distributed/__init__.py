"""Runs on several GPUs of one host, on torch.distributed (ranks started by its elastic
launcher, the engine behind torchrun; never a process pool of fibench's own).

Two kinds of run:

* collective suites (allreduce): every rank runs the same case and backend together; each
  rank measures with the single-GPU machinery (:mod:`fibench.sweep.runner`) and rank 0
  merges the ranks' rows into one (:mod:`fibench.distributed.merge`) and writes it;
* sharded sweeps (``fibench run SUITE --gpus 0,1``): each worker runs its share of the cases
  on its own GPU into its own folder, and the folders are merged into the run folder
  (:mod:`fibench.distributed.shards`).

Modules: env (communication environment: NVLink multicast off), gpus (``--gpus`` and the
one-model rule), group (process group of a rank), busbw (bus bandwidth), ceiling (all-reduce
ceiling), merge (rank rows -> one row), collective (the per-rank runner of collective
suites), shards (assignment and merging of a sharded sweep), worker (what each launched rank
runs), launch (starting the ranks). What a collective suite declares is
:class:`fibench.suites.collective.CollectiveSuite`.
"""
