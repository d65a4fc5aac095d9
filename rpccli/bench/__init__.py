"""``rpccli bench``: load and latency of a uWSGI function (docs/bench.md).

Modules: command (the click command), histogram (constant-memory percentiles, also used by
``call --repeat``), tally (what is counted), run (one process's loop on the batch engine), lanes
(several processes, merged), report (text, JSON, hgrm, CSV, --fail-if) and draw (rich, only on
a terminal). This package file imports nothing, so the histogram comes without the command.
"""
