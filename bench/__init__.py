"""Benchmark: how fast and how cleanly Flask-Shutdown stops a server,
side by side with the usual alternatives, and what the extension costs per
request and at pytest start-up, in one run.

Run from the repository root::

    .venv/bin/python -m bench > bench/results.txt

``bench/README.md`` explains each row. The modules:

- :mod:`bench.run`: the command line, the watchdog, the loop over the rows;
- :mod:`bench.rows`: the table of rows, in the order they run;
- :mod:`bench.runner`: the state of a run and the loop over a row's trials;
- :mod:`bench.idle`, :mod:`bench.inflight`, :mod:`bench.fixtures`,
  :mod:`bench.servers`, :mod:`bench.overhead`: the measurement families;
- :mod:`bench.report`: the tables printed at the end;
- :mod:`bench.app`: the served app (``bench.app:create_app`` for the
  servers started as subprocesses);
- :mod:`bench.harness`: the server-side process of the in-flight rows;
- :mod:`bench.procs`, :mod:`bench.net`, :mod:`bench.common`: child
  processes, loopback HTTP, shared constants.

This file imports nothing: the servers import :mod:`bench.app` through it.
"""
